"""Run rules through Great Expectations on pandas frames and turn results into outcomes.

One ephemeral GX context per process (created on first use, ~20 ms; importing GX costs
3-4 s once). Frames of a suite are validated as one GX suite per frame, chunk by chunk
for the rows frame; row-level results add up over chunks.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import ValidationError as PydanticError

from cim.city.errors import ConfigError
from cim.quality.outcome import EXAMPLES, CheckOutcome, plain, where_text
from cim.quality.rules import Rule, gx_class

GX_SEVERITY = {"ERROR": "critical", "WARN": "warning"}
RESULT_FORMAT = {
    "result_format": "SUMMARY",
    "include_unexpected_rows": True,  # a boolean mask: fast, unlike unexpected index lists
    "partial_unexpected_count": EXAMPLES,
}
_HIDDEN = {"_lid", "_row_number", "_file", "period_index"}  # shown otherwise (file, _period)
_lock = threading.Lock()
_batch_definition = None


def _batch():
    """The whole-dataframe batch definition of this process's ephemeral GX context."""
    global _batch_definition
    if _batch_definition is None:
        import great_expectations as gx

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = {"globally": False}
        asset = context.data_sources.add_pandas("cim_quality").add_dataframe_asset("frame")
        _batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    return _batch_definition


def expectation(rule: Rule, index: int):
    try:
        return gx_class(rule.expect)(
            **rule.kwargs, severity=GX_SEVERITY[rule.severity], meta={"rule": index}
        )
    except (PydanticError, TypeError, ValueError) as exc:
        raise ConfigError(rule.source, [f"rule {rule.name!r}: {exc}"]) from exc


@dataclass
class Tally:
    """A rule's results summed over the chunks of a frame."""

    rule: Rule
    successes: list[bool] = field(default_factory=list)
    element_count: int | None = None
    unexpected_count: int | None = None
    missing_count: int = 0
    partial: list = field(default_factory=list)
    examples: list[dict] = field(default_factory=list)
    observed: Any = None
    exception: str | None = None

    def add(self, result, keep: list[str]) -> None:
        info = result.exception_info or {}
        if not info.get("raised_exception") and "exception_message" not in info and info:
            info = next(iter(info.values()), {})
        if info.get("raised_exception") or info.get("exception_message"):
            self.exception = (info.get("exception_message") or "error").strip().splitlines()[-1]
        self.successes.append(bool(result.success))
        res = result.result or {}
        if res.get("element_count") is not None:
            self.element_count = (self.element_count or 0) + int(res["element_count"])
        if res.get("unexpected_count") is not None:
            self.unexpected_count = (self.unexpected_count or 0) + int(res["unexpected_count"])
        self.missing_count += int(res.get("missing_count") or 0)
        room = EXAMPLES - len(self.partial)
        self.partial += list(res.get("partial_unexpected_list") or [])[:room]
        if "observed_value" in res:
            self.observed = res["observed_value"]
        rows = res.get("unexpected_rows")
        if isinstance(rows, pd.DataFrame) and len(self.examples) < EXAMPLES:
            cols = [c for c in dict.fromkeys([*keep, *self.rule.columns]) if c in rows.columns]
            head = rows[cols].head(EXAMPLES - len(self.examples))
            self.examples += [plain(r) for r in head.to_dict(orient="records")]

    @property
    def success(self) -> bool:
        if self.exception:
            return False
        mostly = self.rule.kwargs.get("mostly")
        if mostly is not None and self.element_count:
            nonmissing = max(self.element_count - self.missing_count, 1)
            return 1 - (self.unexpected_count or 0) / nonmissing >= mostly
        return all(self.successes)


def validate(frames, rules: list[Rule], keep: list[str]) -> list[Tally]:
    """Validate every frame (an iterable of chunks) with the rules; one tally per rule."""
    import great_expectations as gx

    tallies = [Tally(rule) for rule in rules]
    if not rules:
        return tallies
    suite = gx.ExpectationSuite(
        name="cim", expectations=[expectation(r, i) for i, r in enumerate(rules)]
    )
    for frame in frames:
        with _lock:
            batch = _batch().get_batch(batch_parameters={"dataframe": frame})
            results = batch.validate(suite, result_format=RESULT_FORMAT).results
        for result in results:
            tallies[result.expectation_config.meta["rule"]].add(result, keep)
    for tally in tallies:
        if not tally.successes:  # no chunk at all: an empty table
            tally.successes.append(True)
            tally.element_count = tally.unexpected_count = 0
    return tallies


def _rename_lineage(example: dict, files: dict[int, str]) -> dict:
    if "_lid" in example:
        lid = example.pop("_lid")
        example = {
            "file": files.get(int(lid), "unknown file") if lid is not None else None,
            **example,
        }
    if "_file" in example:
        example = {"file": example.pop("_file") or None, **example}
    if "_row_number" in example:
        example["row"] = example.pop("_row_number")
    return example


def outcome(
    tally: Tally,
    *,
    run_id: str,
    asset: str,
    suite: str,
    place: str,
    keys: list[str],
    checked_at: dt.datetime,
    files: dict[int, str] | None = None,
) -> CheckOutcome:
    rule = tally.rule
    examples = [_rename_lineage(e, files or {}) for e in tally.examples]
    success = tally.success
    observed = None if tally.observed is None else str(plain(tally.observed))
    if tally.exception:
        message = (
            f"{asset}: {rule.name} could not be checked ({tally.exception}); "
            f"fix the rule in {rule.source}"
        )
    elif success:
        checked = f" ({tally.element_count} rows checked)" if tally.element_count else ""
        message = f"passed: {rule.name}{checked}"
    else:
        count = tally.unexpected_count or len(examples)
        shown = [k for k in dict.fromkeys([*keys, *rule.columns]) if k not in _HIDDEN]
        where = (
            where_text(examples, count, place, shown)
            if examples or count
            else f"{place}: observed {observed}"
        )
        message = f"{where}: {rule.problem}" + (f" — {rule.advice}" if rule.advice else "")
    details = {
        "expectation_type": rule.expect,
        "kwargs": plain(rule.kwargs),
        "frame": rule.frame,
        "source": rule.source,
        "element_count": tally.element_count,
        "missing_count": tally.missing_count,
        "partial_unexpected_list": plain(tally.partial),
        "exception": tally.exception,
    }
    return CheckOutcome(
        run_id=run_id,
        asset=asset,
        suite=suite,
        expectation=rule.name,
        severity=rule.severity,
        success=success,
        observed_value=observed,
        unexpected_count=tally.unexpected_count,
        unexpected_examples=examples,
        message=message,
        checked_at=checked_at,
        details=details,
    )
