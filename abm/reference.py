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
from mesa.discrete_space import CellAgent, OrthogonalMooreGrid
from scipy import ndimage

from . import kernels as K
from .infusion import Arrivals
from .layout import entry_sites, initial_layout, injection_sites
from .params import validate_params

OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def classify(a: float, prm) -> int:
    if a < prm[K.P_NEG_BELOW]:
        return 3
    return 1 if a >= prm[K.P_HIGH_AT] else 2


class TumourCell(CellAgent):
    """A tumour cell: underlying and expressed antigen (antigens/cell), transient-loss timer (steps)."""

    def __init__(self, model: ReferenceTumourModel, cell, antigen: float) -> None:
        super().__init__(model)
        self.cell = cell
        self.base = antigen
        self.antigen = antigen
        self.timer = 0
        self.tclass = classify(antigen, model.prm)
        self.alive = True
        model.tumour_at[cell.coordinate] = self

    def die(self) -> None:
        self.alive = False
        del self.model.tumour_at[self.cell.coordinate]
        self.remove()

    def step(self) -> None:
        if not self.alive:
            return
        m = self.model
        prm = m.prm
        rnd = m.random
        if self.timer > 0:
            self.timer -= 1
            if self.timer == 0:
                self.antigen = self.base
                self.tclass = classify(self.base, prm)
        elif prm[K.P_TRANS_LOSS] > 0 and self.base > 0 and rnd.random() < prm[K.P_TRANS_LOSS]:
            self.timer = int(prm[K.P_LOSS_STEPS])
            self.antigen = 0.0
            self.tclass = 3
        if rnd.random() < prm[K.P_TUM_DIV]:
            free = [c for c in self.cell.neighborhood
                    if c.coordinate not in m.tumour_at and c.coordinate not in m.vessels]
            if free:
                a = self.base
                if prm[K.P_PERM_LOSS] > 0 and rnd.random() < prm[K.P_PERM_LOSS]:
                    a = 0.0
                TumourCell(m, rnd.choice(free), a)


class CarTCell(CellAgent):
    """A CAR T cell: antigen hits, divisions made, exhausted or not."""

    def __init__(self, model: ReferenceTumourModel, cell, hits: int = 0, divisions: int = 0) -> None:
        super().__init__(model)
        self.cell = cell
        self.hits = hits
        self.divisions = divisions
        self.exhausted = False
        self.alive = True
        self.born = model.steps
        model.car_at[cell.coordinate] = self

    def die(self) -> None:
        self.alive = False
        del self.model.car_at[self.cell.coordinate]
        self.remove()

    def _engage(self) -> bool:
        m = self.model
        prm = m.prm
        rnd = m.random
        bound = []
        for c in self.cell.get_neighborhood(include_center=True):
            t = m.tumour_at.get(c.coordinate)
            if t is not None and t.antigen > 0:
                r = (t.antigen / prm[K.P_HALF]) ** prm[K.P_HILL]
                if rnd.random() < r / (1 + r):
                    bound.append(t)
        if not bound:
            return False
        target = rnd.choice(bound)
        self.hits += 1
        if rnd.random() < prm[K.P_KILL]:
            target.die()
            m.kills += 1
            if prm[K.P_BYSTANDER] > 0:
                for c in self.cell.get_neighborhood(include_center=True):
                    other = m.tumour_at.get(c.coordinate)
                    if other is not None and rnd.random() < prm[K.P_BYSTANDER]:
                        other.die()
                        m.kills += 1
            if self.divisions < prm[K.P_DIV_LIMIT] and rnd.random() < prm[K.P_DIV]:
                free = [c for c in self.cell.neighborhood
                        if c.coordinate not in m.car_at and c.coordinate not in m.tumour_at]
                if free:
                    self.divisions += 1
                    CarTCell(m, rnd.choice(free), self.hits, self.divisions)
        if self.hits > prm[K.P_EXH_HITS]:
            self.exhausted = True
        return True

    def _move(self) -> None:
        m = self.model
        prm = m.prm
        rnd = m.random
        w, h = m.width, m.height
        x, y = self.cell.coordinate
        if m.dist[x, y] <= prm[K.P_RANGE] and rnd.random() < prm[K.P_BIAS]:
            best = min(m.dist[c.coordinate] for c in self.cell.neighborhood)
            target = rnd.choice([c for c in self.cell.neighborhood if m.dist[c.coordinate] == best])
        else:
            dx, dy = OFFSETS[int(rnd.random() * 8)]
            if not (0 <= x + dx < w and 0 <= y + dy < h):
                return
            target = m.grid[(x + dx, y + dy)]
        if target.coordinate in m.car_at:
            return
        if target.coordinate in m.tumour_at and rnd.random() >= prm[K.P_ENTRY]:
            return
        del m.car_at[self.cell.coordinate]
        self.cell = target
        m.car_at[target.coordinate] = self

    def step(self) -> None:
        if not self.alive or self.born == self.model.steps:
            return
        prm = self.model.prm
        rnd = self.model.random
        if rnd.random() < (prm[K.P_DEATH_EX] if self.exhausted else prm[K.P_DEATH]):
            self.die()
            return
        if self.hits > 0 and rnd.random() < prm[K.P_RECOVER]:
            self.hits -= 1
        if self.exhausted and self.hits <= prm[K.P_RECOVERY_HITS]:
            self.exhausted = False
        if not self.exhausted and self._engage():
            return
        for _ in range(int(prm[K.P_MOVES])):
            self._move()


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
