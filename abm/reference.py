"""The same rules as :class:`abm.TumourModel`, written the plain Mesa way: one Python agent per cell.

Used as the yardstick of the benchmarks (speed ratio) and by a test checking that both implementations behave
alike statistically (the random streams differ, so runs match only in distribution). Rule order per step is
identical: arrivals, CAR T cells in random order, tumour cells in random order, chemokine distance field.
"""

from __future__ import annotations

import math
from typing import Any

import mesa
import numpy as np
from mesa.discrete_space import OrthogonalMooreGrid
from scipy import ndimage

from . import kernels as K
from .agents import CarTCell, TumourCell
from .infusion import Arrivals
from .layout import entry_sites, initial_layout, injection_sites
from .params import validate_params

__all__ = ["ReferenceTumourModel"]

class ReferenceTumourModel(mesa.Model):
    """Per-agent Mesa version of :class:`abm.TumourModel` (same parameters, same rules, slow)."""

    def __init__(self, seed: int | None = None, **params: Any) -> None:
        p = validate_params(params)
        super().__init__(seed=seed)
        self.p = p
        self.prm = K.rule_vector(p)
        self.width, self.height = p["width"], p["height"]
        self.grid = OrthogonalMooreGrid((self.width, self.height), torus=False, random=self.random)
        lay = initial_layout(p, self.rng)
        self.layout = lay
        self.tumour_at: dict[tuple[int, int], TumourCell] = {}
        self.car_at: dict[tuple[int, int], CarTCell] = {}
        self.vessels = {(int(x), int(y)) for x, y in zip(*np.nonzero(lay.vessel), strict=True)}
        for x, y in zip(*np.nonzero(lay.tumour), strict=True):
            TumourCell(self, self.grid[(int(x), int(y))], float(lay.antigen[x, y]))
        self.initial_tumour_cells = len(self.tumour_at)
        self.dose = int(round(p["et_ratio"] * self.initial_tumour_cells))
        self.kills = 0
        self.arrivals = None
        self._pending = 0
        if p["route"] == "intravenous":
            self.arrivals = Arrivals(self.dose, p["step_hours"], p["iv_transit_hours"])
            self._entry = [(int(s // self.height), int(s % self.height)) for s in entry_sites(p, lay.vessel)]
        else:
            sites = injection_sites(p, lay)
            for s in self.rng.choice(sites, size=min(self.dose, sites.size), replace=False):
                CarTCell(self, self.grid[(int(s // self.height), int(s % self.height))])
        self.dist = np.zeros((self.width, self.height), dtype=np.int64)
        self._update_distance()
        self.datacollector = mesa.DataCollector(model_reporters={
            "tumour_cells": lambda m: len(m.tumour_at),
            "antigen_negative": lambda m: sum(1 for t in m.tumour_at.values() if t.tclass == 3),
            "car_t_cells": lambda m: len(m.car_at),
        })
        self.datacollector.collect(self)

    def _update_distance(self) -> None:
        cap = int(self.prm[K.P_RANGE]) + 1
        mask = np.zeros((self.width, self.height), dtype=bool)
        for (x, y) in self.tumour_at:
            mask[x, y] = True
        if not mask.any():
            self.dist[...] = cap
            return
        d = ndimage.distance_transform_cdt(~mask, metric="chessboard")
        np.minimum(d, cap, out=self.dist)

    def step(self) -> None:
        if self.arrivals is not None:
            self._pending += self.arrivals.count(self.steps - 1)
            placed = 0
            for _ in range(self._pending):
                for _try in range(20):
                    xy = self._entry[int(self.random.random() * len(self._entry))]
                    if xy not in self.car_at and xy not in self.tumour_at:
                        CarTCell(self, self.grid[xy])
                        placed += 1
                        break
            self._pending -= placed
        # Cells arriving this step act from the next step on, as in the fast model.
        self.agents_by_type.get(CarTCell, mesa.agent.AgentSet([], random=self.random)).shuffle_do("step")
        if TumourCell in self.agents_by_type:
            self.agents_by_type[TumourCell].shuffle_do("step")
        self._update_distance()
        self.datacollector.collect(self)
        if not self.tumour_at:
            self.running = False

    @property
    def tumour_cells(self) -> int:
        return len(self.tumour_at)

    @property
    def car_t_cells(self) -> int:
        return len(self.car_at)

    @property
    def antigen_negative_fraction(self) -> float:
        n = len(self.tumour_at)
        return sum(1 for t in self.tumour_at.values() if t.tclass == 3) / n if n else math.nan
