"""The demo city's residents: one model shared by every file that needs population.

The population file, the survey weights (which must sum to the adult population) and the
pupil counts all read this model, so the demo's numbers agree with each other.
"""

from __future__ import annotations

import numpy as np

from cim_demo.spec import DemoSpec
from cim_demo.timeline import ordinal_year_month, rng, stream_key


class Residents:
    def __init__(self, spec: DemoSpec):
        cfg = spec.demo["residents"]
        self.codes = [a.code for a in spec.neighbourhoods]
        self.district_codes = [d.code for d in spec.districts]
        parents = [spec.area(c).parent for c in self.codes]
        self.district_of = np.array([self.district_codes.index(p) for p in parents])
        self.bands = [str(b) for b in cfg["age_shares"]]
        self.base_year = ordinal_year_month(spec.first_month)[0]
        gen = rng(spec.seed, stream_key("residents"))
        n = len(self.codes)
        low, high = cfg["total_per_neighbourhood"]
        self._total0 = gen.integers(low, high + 1, size=n).astype(float)
        g_low, g_high = cfg["yearly_growth"]
        self._growth = gen.uniform(g_low, g_high, size=n)
        base = np.array([float(cfg["age_shares"][b]) for b in self.bands])
        noise = np.exp(gen.normal(0.0, float(cfg["age_share_noise"]), size=(n, len(base))))
        shares = base * noise
        self._shares0 = shares / shares.sum(axis=1, keepdims=True)
        self._ageing = float(cfg["ageing_per_year"])
        p_low, p_high = cfg["persons_per_dwelling"]
        self._persons_per_dwelling = gen.uniform(p_low, p_high, size=n)
        dws = cfg["dwelling_shares"]
        self._dwelling_shares = np.array([float(dws.get(b, 0.0)) for b in self.bands])
        self._dwelling_shares /= self._dwelling_shares.sum()

    def _shares(self, year: int) -> np.ndarray:
        """Ageing moves a fixed share per year into the oldest band, taken pro rata from the
        others, so the population changes slowly and plausibly from year to year."""
        shift = self._ageing * (year - self.base_year)
        shares = self._shares0 * (1.0 - shift / (1.0 - self._shares0[:, -1:]))
        shares[:, -1] = self._shares0[:, -1] + shift
        return shares

    def counts(self, year: int) -> np.ndarray:
        """Residents on 1 January of ``year``: neighbourhoods x age bands."""
        total = self._total0 * (1.0 + self._growth) ** (year - self.base_year)
        return np.rint(total[:, None] * self._shares(year)).astype(np.int64)

    def dwellings(self, year: int) -> np.ndarray:
        """Dwellings by age band of the reference person (they sum to the area's dwellings)."""
        total = self.counts(year).sum(axis=1) / self._persons_per_dwelling
        return np.rint(total[:, None] * self._dwelling_shares).astype(np.int64)

    def band_index(self, band: str) -> int:
        return self.bands.index(band)

    def by_district(self, year: int) -> np.ndarray:
        """Residents per district x age band."""
        out = np.zeros((len(self.district_codes), len(self.bands)), dtype=np.int64)
        np.add.at(out, self.district_of, self.counts(year))
        return out
