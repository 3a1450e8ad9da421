"""The incident process behind kind ``event_csv``: Poisson counts by occurrence month.

Expected incidents per neighbourhood x category x occurrence month are
``scale * area level * category share * seasonality[calendar month] * trend``, times
``1 + relative_effect`` in the treated areas from an action's start month (declared in
``truths.action_effects``). Because the effect acts on the mean by *occurrence* month, a
difference-in-differences on occurrence dates recovers it exactly in expectation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cim_demo.formats import allowed_of
from cim_demo.spec import DemoSpec
from cim_demo.timeline import month_ordinal, month_start, rng, stream_key


def area_levels(spec: DemoSpec) -> np.ndarray:
    """Relative incident level per neighbourhood (areas.csv order). Draws for every area
    first, then applies the fixed ones, so editing a fixed level never reshuffles others."""
    cfg = spec.demo["area_levels"]
    codes = [a.code for a in spec.neighbourhoods]
    gen = rng(spec.seed, stream_key("area_levels"))
    levels = np.exp(gen.normal(0.0, float(cfg["spread"]), size=len(codes)))
    for code, value in (cfg.get("fixed") or {}).items():
        levels[codes.index(code)] = float(value)
    return levels


def seasonality(spec: DemoSpec, feed_id: str, categories: list[str]) -> np.ndarray:
    """12 x categories matrix of monthly factors from ``truths.seasonality``."""
    cfg = spec.truths["seasonality"]
    profiles = cfg["profiles"]
    per_cat = cfg[feed_id]
    return np.array([profiles[per_cat[c]] for c in categories], dtype=float).T


@dataclass
class Batch:
    """Incidents of one occurrence month (or a registration month's share of them)."""

    area: np.ndarray
    cat: np.ndarray
    occurred: np.ndarray  # proleptic day ordinal (date.toordinal)
    registered: np.ndarray

    def select(self, mask: np.ndarray) -> Batch:
        return Batch(self.area[mask], self.cat[mask], self.occurred[mask], self.registered[mask])

    @staticmethod
    def concat(parts: list[Batch]) -> Batch:
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return Batch(empty, empty, empty, empty)
        return Batch(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("area", "cat", "occurred", "registered")
            )
        )


class IncidentModel:
    def __init__(
        self,
        spec: DemoSpec,
        feed_id: str,
        section: dict[str, Any],
        contract: dict[str, Any],
        incidents: int | None,
    ):
        self.codes = [a.code for a in spec.neighbourhoods]
        self.categories = allowed_of(contract, "offence_category")
        shares = section["category_shares"]
        self._shares = np.array([float(shares[c]) for c in self.categories])
        self._levels = area_levels(spec)
        self._season = seasonality(spec, feed_id, self.categories)
        self._trend = float(section.get("trend_per_year", 0.0))
        self._origin = spec.first_month
        self.first = spec.first_month - int(section.get("lead_in_months", 0))
        self.last = spec.last_month
        self._effects = []
        for eff in spec.truths.get("action_effects", []):
            if eff["feed"] != feed_id or float(eff["relative_effect"]) == 0.0:
                continue
            areas = np.array([self.codes.index(c) for c in eff["treated"]])
            cats = np.array([self.categories.index(c) for c in eff["categories"]])
            self._effects.append(
                (month_ordinal(str(eff["start"])), areas, cats, 1.0 + float(eff["relative_effect"]))
            )
        lag = section["registration_lag"]
        self._short_days = np.array(lag["short_days"])
        weights = np.array(lag["short_weights"], dtype=float)
        self._short_weights = weights / weights.sum()
        self._long_share = float(lag["long_share"])
        self.long_days = tuple(int(x) for x in lag["long_days"])
        target = incidents if incidents is not None else int(section["incidents"])
        period_total = sum(self._raw_mean(m).sum() for m in range(self._origin, self.last + 1))
        self._scale = float(target) / period_total

    def _raw_mean(self, ordinal: int) -> np.ndarray:
        """Unscaled mean: kept separate so the scale can be solved from the requested total."""
        years = (ordinal - self._origin) / 12.0
        lam = (
            self._levels[:, None]
            * self._shares[None, :]
            * self._season[ordinal % 12][None, :]
            * (1.0 + self._trend) ** years
        )
        for start, areas, cats, factor in self._effects:
            if ordinal >= start:
                lam[np.ix_(areas, cats)] *= factor
        return lam

    def mean(self, ordinal: int) -> np.ndarray:
        """Expected incidents occurring in month ``ordinal``: areas x categories."""
        return self._raw_mean(ordinal) * self._scale

    def draw(self, ordinal: int, gen: np.random.Generator) -> Batch:
        counts = gen.poisson(self.mean(ordinal))
        cell = np.repeat(np.arange(counts.size), counts.ravel())
        n = cell.size
        n_cats = len(self.categories)
        start = month_start(ordinal)
        days = (month_start(ordinal + 1) - start).days
        occurred = start.toordinal() + gen.integers(0, days, size=n)
        short = gen.choice(self._short_days, size=n, p=self._short_weights)
        long = gen.integers(self.long_days[0], self.long_days[1] + 1, size=n)
        lag = np.where(gen.random(n) < self._long_share, long, short)
        return Batch(cell // n_cats, cell % n_cats, occurred, occurred + lag)
