"""The agents of the plain per-agent reference model (:class:`abm.reference.ReferenceTumourModel`): one Mesa
``CellAgent`` per tumour cell and per CAR T cell, applying the same rules as the lattice kernels of
:class:`abm.TumourModel`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mesa.discrete_space import CellAgent

from . import kernels as K

if TYPE_CHECKING:
    from .reference import ReferenceTumourModel

__all__ = ["CarTCell", "TumourCell"]

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
