"""A partner's upload: the file tried first, then sent for the pipeline to take.

Dropping a file runs ``cim.ingest.dryrun.dry_run``: the real inbox rules, readers, checks
and loader on a scratch database, committing nothing. The partner sees within seconds
what the pipeline would do: rows accepted and rejected with reasons and examples (never
a personal value), missing or renamed columns, encoding or delimiter, the period, the
delivery it would replace. "Send" puts the file in the landing folder atomically
(``submit``); the sensor takes it from there and its status follows below. Every try
and every send is written to the upload audit trail (``state.uploads``).
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st
from cim import settings
from cim.city import load_city
from cim.ingest import dryrun

from app import access, data, i18n
from app.i18n import t
from app.text import md, md_code

VERDICT_ICON = {
    dryrun.WOULD_LOAD: "✅",
    dryrun.WOULD_LOAD_WITH_REJECTS: "⚠️",
    dryrun.WOULD_BE_REJECTED: "⛔",
    dryrun.REFUSED: "⛔",
    dryrun.ALREADY_LOADED: "ℹ️",
}
SENDABLE = (dryrun.WOULD_LOAD, dryrun.WOULD_LOAD_WITH_REJECTS)
# the last tries of this session, by the file's hash: a rerun must not run the check again
TRIED = "_cim_upload_tried"


def verdict_word(verdict: str) -> str:
    return f"{VERDICT_ICON.get(verdict, '')} {t('upload.verdict.' + verdict.replace(' ', '_'))}"


def reasons_table(report: dryrun.DryRun) -> pd.DataFrame:
    """Each reason rows were rejected for, how many, and the first rows it hit."""
    rows = []
    for group in report.row_reasons:
        for example in group.examples or (None,):
            shown = ""
            if example is not None:
                shown = example.text or " · ".join(
                    f"{k}={v if v is not None else ''}" for k, v in (example.values or {}).items()
                )
            rows.append(
                {
                    t("col.reason"): i18n.reason(group.reason),
                    t("upload.rows"): data.fmt(group.rows, 0),
                    t("col.row"): data.fmt(example.row_number, 0) if example else "",
                    t("col.column"): (example.column or "") if example else "",
                    t("col.row_text"): shown,
                }
            )
    return pd.DataFrame(rows)


def _report(report: dryrun.DryRun) -> None:
    """The dry run in the partner's words."""
    say = st.success if report.verdict == dryrun.WOULD_LOAD else st.warning
    if report.verdict in (dryrun.WOULD_BE_REJECTED, dryrun.REFUSED):
        say = st.error
    say(f"**{md(report.file)}**: {verdict_word(report.verdict)}")
    for reason in (report.refusal, report.reason):
        if reason:
            st.markdown(md(i18n.reason(reason)))
    if report.feed:
        st.caption(
            t(
                "upload.feed",
                feed=md(report.feed),
                period=md(report.period or ", ".join(p["period"] for p in report.period_rows)),
                seconds=data.fmt(report.seconds, 1),
            )
        )
    columns = report.columns
    if columns is not None:
        for key, names in (
            ("upload.missing", columns.missing),
            ("upload.extra", columns.extra),
        ):
            if names:
                st.markdown(t(key, columns=", ".join(md_code(n) for n in names)))
        for expected, found in columns.renamed:
            st.markdown(t("upload.renamed", expected=md_code(expected), found=md_code(found)))
    if report.rows_read:
        st.markdown(
            t(
                "upload.rows_summary",
                read=data.fmt(report.rows_read, 0),
                accepted=data.fmt(report.rows_accepted, 0),
                rejected=data.fmt(report.rows_rejected, 0),
            )
        )
    if report.row_reasons:
        st.dataframe(reasons_table(report), hide_index=True, width="stretch")
        if report.more_reasons:
            st.caption(t("upload.more_reasons", n=report.more_reasons))
    for earlier in report.replaces:
        st.markdown(
            t(
                "upload.replaces",
                file=md(earlier.original_name),
                periods=md(", ".join(earlier.periods)),
            )
        )
    if report.duplicate_of:
        st.markdown(t("upload.duplicate", file=md(report.duplicate_of)))
    for warning in report.warnings:
        st.caption(f"⚠️ {md(i18n.reason(warning))}")


def _status_of_sent(partner: str) -> None:
    """Files this partner sent from here, and what the pipeline made of each so far: in
    words, newest first."""
    sent = [u for u in access.state().uploads.list(partner_id=partner) if u.action == "submitted"]
    if not sent:
        return
    ledger = data.query(
        "SELECT sha256, status, received_at FROM meta.file_ledger WHERE partner = ? "
        "ORDER BY received_at",
        (partner,),
    )
    found = dict(zip(ledger["sha256"], ledger["status"], strict=True)) if not ledger.empty else {}
    st.markdown(f"**{t('upload.sent_title')}**")
    for u in sent:
        status = i18n.status(found[u.sha256]) if u.sha256 in found else t("upload.waiting")
        st.markdown(f"- {md(u.original_name)} · {data.fmt_date(u.recorded_at)} · {status}")


def _audit(
    who: access.Viewer,
    name: str,
    sha: str,
    size: int,
    action: str,
    feed: str | None,
    summary: dict,
) -> None:
    """One line of the upload audit trail: who tried or sent which bytes, and the outcome."""
    access.state().uploads.record(
        who.partner_id,
        who.username,
        name,
        sha,
        size,
        action=action,
        feed=feed,
        summary=summary,
    )


def render(who: access.Viewer) -> None:
    st.subheader(t("upload.title"))
    city = load_city(settings.city_dir())
    patterns = [c.file_pattern for c in city.contracts if c.partner == who.partner_id]
    if not patterns:  # a partner that sends no feed has nothing to upload
        st.info(t("portal.no_feeds"))
        return
    st.caption(t("upload.explain", patterns=", ".join(md_code(p) for p in patterns)))
    file = st.file_uploader(t("upload.pick"), key="upload_file")
    if file is not None:
        content = file.getvalue()
        sha = hashlib.sha256(content).hexdigest()
        tried = st.session_state.setdefault(TRIED, {})
        paths = settings.Paths(settings.cim_home())
        if sha not in tried:
            report = dryrun.dry_run(city, paths, content, file.name, who.partner_id)
            tried.clear()  # one file at a time
            tried[sha] = report
            _audit(who, file.name, sha, len(content), "dry_run", report.feed, report.as_dict())
        report = tried[sha]
        _report(report)
        if report.verdict in SENDABLE and st.button(
            t("upload.send"), key="upload_send", type="primary"
        ):
            sent = dryrun.submit(city, paths, content, file.name, who.partner_id)
            action = "submitted" if sent.written else "refused"
            _audit(who, file.name, sha, len(content), action, report.feed, sent.as_dict())
            if sent.written:
                st.success(t("upload.sent", name=md(sent.landing_name)), icon="📨")
            else:
                st.warning(md(i18n.reason(sent.reason or sent.verdict)))
    _status_of_sent(who.partner_id)
