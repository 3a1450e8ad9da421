"""The partner's page and the backbone's cockpit, run under AppTest on a copy of the demo
deployment with a real app-state database: an upload tried (nothing committed), sent
(into the landing folder) and then loaded by the real pipeline; stories written, approved
and shown; a reminder sent now and held by the de-duplication interval."""

from __future__ import annotations

import hashlib

import pytest
from cim.appstate import default_url, open_state
from streamlit.testing.v1 import AppTest

from app.i18n import catalog
from tests import readers
from tests.hostile import NATIONAL_NUMBER, VICTIM
from tests.quirky import police_csv, police_row
from tests.test_app import APP, go

EN = catalog("en")
POLICE_FILE = "politie_incidenten_2023-04.csv"
pytestmark = pytest.mark.slow


@pytest.fixture
def deployment(demo_build, tmp_path, monkeypatch):
    """A copy of the demo deployment the test may change, its app state beside it."""
    paths = demo_build.copy_to(tmp_path)
    monkeypatch.setenv("CIM_HOME", str(paths.home))
    monkeypatch.delenv("CIM_APP_DB", raising=False)
    return paths


def files_of(paths) -> dict[str, str]:
    """Every file of the deployment but the app state, with the hash of its bytes."""
    return {
        str(p.relative_to(paths.home)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(paths.home.rglob("*"))
        if p.is_file() and p.relative_to(paths.home).parts[0] != "app"
    }


def page_text(at: AppTest) -> str:
    kinds = ("markdown", "caption", "success", "warning", "error", "info")
    parts = [e.value for kind in kinds for e in at.get(kind)]
    parts += [frame.value.to_csv() for frame in at.dataframe]
    return "\n".join(str(p) for p in parts)


def broken_police_file() -> bytes:
    rows = [
        *[police_row(n) for n in range(1, 21)],
        *[
            police_row(
                n,
                **{
                    "Statistische sector": "04017Z999",
                    "Naam slachtoffer": VICTIM,
                    "Rijksregisternummer verdachte": NATIONAL_NUMBER,
                },
            )
            for n in range(21, 24)
        ],
    ]
    return police_csv(rows).encode("cp1252")


def test_a_partner_tries_a_broken_file_sends_it_and_the_pipeline_loads_it(
    demo_build, deployment, monkeypatch
):
    at = readers.sign_in(AppTest.from_file(APP, default_timeout=120), "partner", "police")
    go(at, "portal")
    before = files_of(deployment)
    at.file_uploader(key="upload_file").set_value(
        (POLICE_FILE, broken_police_file(), "text/csv")
    ).run()
    assert not at.exception, [e.value for e in at.exception]
    text = page_text(at)
    assert EN["upload.verdict.would_load_with_rejected_rows"] in text
    assert "23 rows read: 20 accepted, 3 rejected." in text
    assert "04017Z999" in text  # the bad value, as the partner wrote it
    assert VICTIM not in text and NATIONAL_NUMBER not in text
    assert "It would replace your earlier file" in text
    # the dry run committed nothing: warehouse, ledger, landing folder and archive as before
    assert files_of(deployment) == before
    state = open_state(default_url(deployment.home))
    [tried] = state.uploads.list(partner_id="police")
    assert (tried.action, tried.original_name) == ("dry_run", POLICE_FILE)

    at.button(key="upload_send").click().run()
    assert not at.exception, [e.value for e in at.exception]
    landed = [p.name for p in deployment.landing.iterdir()]
    assert landed == [POLICE_FILE]
    assert [u.action for u in state.uploads.list(partner_id="police")] == [
        "submitted",
        "dry_run",
    ]
    assert EN["upload.waiting"] in page_text(at)

    result, _ = demo_build.run(deployment, monkeypatch)
    assert result.success
    again = readers.sign_in(AppTest.from_file(APP, default_timeout=120), "partner", "police")
    go(again, "portal")
    sent = [m.value for m in again.markdown if m.value.startswith("- politie_incidenten")]
    assert len(sent) == 1 and sent[0].endswith("· loaded"), sent
    rejected = next(d.value for d in again.dataframe if EN["col.row_text"] in d.value.columns)
    mine = rejected[rejected[EN["col.file"]] == POLICE_FILE]
    assert len(mine) == 3
    assert all("04017Z999" in row for row in mine[EN["col.row_text"]])
    assert not any(VICTIM in row for row in mine[EN["col.row_text"]])


def test_a_file_of_another_partner_is_refused_and_nothing_is_sent(deployment):
    at = readers.sign_in(AppTest.from_file(APP, default_timeout=120), "partner", "housing")
    go(at, "portal")
    at.file_uploader(key="upload_file").set_value(
        (POLICE_FILE, broken_police_file(), "text/csv")
    ).run()
    assert not at.exception
    assert EN["upload.verdict.refused"] in page_text(at)
    assert not [b for b in at.button if b.key == "upload_send"]
    assert not list(deployment.landing.iterdir())


def test_a_story_is_public_only_once_the_backbone_approves_it(deployment):
    indicator, area = "property_crime_rate", "04017A"
    partner = readers.sign_in(AppTest.from_file(APP, default_timeout=120), "partner", "police")
    go(partner, "indicator", indicator=indicator, area=area)
    partner.text_area(key="story_body").input("Bike thefts fell after the new racks.")
    partner.selectbox(key="story_period").set_value(
        partner.selectbox(key="story_period").options[1]
    )
    next(b for b in partner.button if b.label == EN["stories.add"]).click().run()
    assert not partner.exception, [e.value for e in partner.exception]

    def public_text() -> str:
        public = go(
            AppTest.from_file(APP, default_timeout=120), "indicator", indicator=indicator, area=area
        )
        return page_text(public)

    assert "Bike thefts fell after the new racks." not in public_text()
    backbone = readers.sign_in(AppTest.from_file(APP, default_timeout=120), "backbone")
    go(backbone, "indicator", indicator=indicator, area=area)
    assert "Bike thefts fell after the new racks." in page_text(backbone)
    [approve] = [b for b in backbone.button if b.key and b.key.startswith("approve_")]
    approve.click().run()
    assert "Bike thefts fell after the new racks." in public_text()
    # and it is marked on the chart at its period
    public = go(
        AppTest.from_file(APP, default_timeout=120), "indicator", indicator=indicator, area=area
    )
    trend = public.get("plotly_chart")[0]
    assert '"(1)"' in trend.proto.spec

    # its author writes a second version: the public keeps reading the approved one
    go(partner, "indicator", indicator=indicator, area=area)
    [body] = [a for a in partner.text_area if a.key and a.key.startswith("revise_body_")]
    body.input("Bike thefts fell after the new racks and the lighting.")
    next(b for b in partner.button if b.label == EN["stories.save_version"]).click().run()
    assert not partner.exception, [e.value for e in partner.exception]
    assert "and the lighting" in page_text(partner)
    assert "and the lighting" not in public_text()
    assert "Bike thefts fell after the new racks." in public_text()


def test_send_reminder_now_logs_it_and_then_keeps_to_the_interval(
    deployment, tmp_path, monkeypatch
):
    # an app state without the reminders the demo's own run sent, which would hold this one
    monkeypatch.setenv("CIM_APP_DB", f"sqlite:///{tmp_path / 'state.sqlite'}")
    at = readers.sign_in(AppTest.from_file(APP, default_timeout=120), "backbone")
    go(at, "cockpit")
    pick = at.selectbox(key="remind_pick").value
    feed, period = pick.split(" ", 1)
    at.button(key="remind_now").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(f"{feed} {period}" in s.value.replace("\\", "") for s in at.success)
    state = open_state()
    logged = [e for e in state.reminders.list(feed=feed) if e.period == period]
    assert logged and logged[0].sent_by == "test-backbone"
    log = next(d.value for d in at.dataframe if EN["col.sent_by"] in d.value.columns)
    assert "test-backbone" in log[EN["col.sent_by"]].tolist()
    at.selectbox(key="remind_pick").set_value(pick)
    at.button(key="remind_now").click().run()
    assert any("already went" in w.value for w in at.warning)
    assert len([e for e in state.reminders.list(feed=feed) if e.period == period]) == 1
