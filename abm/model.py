"""``TumourModel``: a Mesa 3 model of a solid tumour under CAR T-cell attack on a 2-D lattice.

The lattice state lives in PropertyLayers of a Mesa ``OrthogonalMooreGrid`` and is advanced by Numba kernels
(:mod:`abm.kernels`): tens of thousands of cells per step in Python objects would be far too slow. Blood vessels,
few and fixed, are Mesa agents. Per step: arrivals, CAR T cells (death, hit recovery, kill/divide or move), tumour
cells (antigen loss, division), the chemokine distance field, then the DataCollector.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import mesa
import numpy as np
from mesa.discrete_space import FixedAgent, OrthogonalMooreGrid

from . import kernels
from .infusion import Arrivals
from .layout import CLASS_HIGH, CLASS_LOW, CLASS_NEGATIVE, entry_sites, initial_layout, injection_sites
from .params import validate_params

__all__ = ["TumourModel", "Vessel", "REPORTERS"]

#: DataCollector columns (model attributes), one row per step; units in :meth:`TumourModel.summary`.
REPORTERS = (
    "time_hours", "tumour_cells", "antigen_high", "antigen_low", "antigen_negative", "antigen_negative_fraction",
    "car_t_cells", "car_t_active", "car_t_exhausted", "car_t_in_tumour", "infiltration_depth_um", "kills",
    "arrived",
)


class Vessel(FixedAgent):
    """A blood-vessel site: tumour cells cannot occupy it; intravenous CAR T cells extravasate next to it."""

    def __init__(self, model: TumourModel, cell) -> None:
        super().__init__(model)
        self.cell = cell


class TumourModel(mesa.Model):
    """Solid tumour with heterogeneous antigen and CAR T cells on a ``width`` × ``height`` lattice.

    Args:
        seed: random seed (same seed, same run).
        blood_trajectory: optional ``(times_hours, counts)`` of circulating CAR T cells, e.g. from ``hybrid``;
            intravenous arrivals then follow it (rate ∝ C(t)), scaled to the dose.
        stop_early: stop once escape is certain (see below); False runs on until elimination or the step limit,
            so that end states of different runs are taken at the same time.
        **params: any parameter of :data:`abm.params.PARAMS` (units there); validated, else ``ParameterError``.

    Time: one ``step()`` is ``step_hours`` hours. ``running`` turns False once the tumour is eliminated and, with
    ``stop_early``, once escape is certain: no tumour cell left that carries antigen, or no CAR T cell left and
    none to come. ``stop_reason`` says which.
    """

    def __init__(self, seed: int | None = None, blood_trajectory: Sequence | None = None, stop_early: bool = True,
                 **params: Any) -> None:
        p = validate_params(params)
        super().__init__(seed=seed)
        self.p = p
        self.stop_early = stop_early
        self.width, self.height = p["width"], p["height"]
        self.step_hours = p["step_hours"]
        self.site_um = p["site_um"]
        self.grid = OrthogonalMooreGrid((self.width, self.height), torus=False, random=self.random)
        lay = initial_layout(p, self.rng)
        self.layout = lay
        g = self.grid
        self.tumour_class = g.create_property_layer("tumour_class", np.int8(0), dtype=np.int8).data
        self.antigen = g.create_property_layer("antigen", np.float64(0.0), dtype=np.float64).data
        self.antigen_base = g.create_property_layer("antigen_base", np.float64(0.0), dtype=np.float64).data
        self.loss_timer = g.create_property_layer("loss_timer", np.int32(0), dtype=np.int32).data
        self.vessel = g.create_property_layer("vessel", np.bool_(False), dtype=np.bool_).data
        self.car_t = g.create_property_layer("car_t", np.int8(0), dtype=np.int8).data
        # small integer types: a step visits the CAR T cells in random order, so the time goes in memory traffic
        # (divisions are bounded by division_limit <= 1000, distances by the chemotaxis range <= 10000)
        self.car_hits = g.create_property_layer("car_hits", np.int32(0), dtype=np.int32).data
        self.car_divisions = g.create_property_layer("car_divisions", np.int16(0), dtype=np.int16).data
        self.tumour_distance = g.create_property_layer("tumour_distance", np.int16(0), dtype=np.int16).data
        self.footprint_depth = g.create_property_layer("footprint_depth", np.int32(0), dtype=np.int32).data

        self.vessel[...] = lay.vessel
        self.footprint_depth[...] = lay.depth
        self.antigen_base[...] = lay.antigen
        self.antigen[...] = lay.antigen
        codes = np.where(lay.antigen >= p["high_at_least"], CLASS_HIGH,
                         np.where(lay.antigen < p["negative_below"], CLASS_NEGATIVE, CLASS_LOW))
        self.tumour_class[...] = np.where(lay.tumour, codes, 0)
        for x, y in zip(*np.nonzero(lay.vessel), strict=True):
            Vessel(self, g[(int(x), int(y))])

        self.initial_tumour_cells = int(lay.tumour.sum())
        self.dose = int(round(p["et_ratio"] * self.initial_tumour_cells))
        self._prm = kernels.rule_vector(p)
        # the kernels' random stream (see abm.kernels), seeded from the model's
        self._stream = np.random.SeedSequence(int(self.rng.integers(2**63))).generate_state(4, np.uint64)
        self._order = np.empty(self.width * self.height, dtype=np.int64)  # the kernels' visiting order
        self._cap = int(p["chemotaxis_range_sites"]) + 1
        self.arrivals: Arrivals | None = None
        self._pending = 0
        self.arrived = 0
        if p["route"] == "intravenous":
            self.arrivals = Arrivals(self.dose, self.step_hours, p["iv_transit_hours"], blood_trajectory)
            self._entry = entry_sites(p, lay.vessel)
        else:
            sites = injection_sites(p, lay)
            chosen = self.rng.choice(sites, size=min(self.dose, sites.size), replace=False)
            self.car_t.ravel()[chosen] = 1
            self.arrived = int(chosen.size)
        self.kills = 0
        self.eliminated = False
        self.elimination_hours: float | None = None
        self.positive_clearance_hours: float | None = None
        self.stop_reason = "running"
        self.time_hours = 0.0
        kernels.distance_field(self.tumour_class, self.tumour_distance, self._cap)
        self._census()
        self.datacollector = mesa.DataCollector(model_reporters={k: k for k in REPORTERS})
        self.datacollector.collect(self)

    # -- one step -------------------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance ``step_hours`` hours."""
        k = self.steps  # Mesa has already counted this step
        if self.arrivals is not None:
            self._pending += self.arrivals.count(k - 1)
            if self._pending:
                placed = kernels.place_entrants(self.car_t, self.car_hits, self.car_divisions, self.tumour_class,
                                                self._entry, self._pending, self._stream)
                self._pending -= placed
                self.arrived += placed
        killed = kernels.car_t_phase(
            self.car_t, self.car_hits, self.car_divisions, self.tumour_class, self.antigen, self.antigen_base,
            self.loss_timer, self.tumour_distance, self._stream, self._prm, self._order)
        self.kills += killed
        born = kernels.tumour_phase(self.tumour_class, self.antigen, self.antigen_base, self.loss_timer,
                                    self.vessel, self._stream, self._prm, self._order)
        if killed or born:  # the field depends only on where tumour cells are
            kernels.distance_field(self.tumour_class, self.tumour_distance, self._cap)
        self.time_hours = k * self.step_hours
        self._census()
        self.datacollector.collect(self)
        self._decide(k)

    def _census(self) -> None:
        c = kernels.census(self.tumour_class, self.antigen_base, self.car_t, self.footprint_depth)
        self.antigen_high, self.antigen_low, self.antigen_negative = int(c[0]), int(c[1]), int(c[2])
        self.killable = int(c[3])
        self.tumour_cells = int(c[0] + c[1] + c[2])
        self.antigen_negative_fraction = (self.antigen_negative / self.tumour_cells if self.tumour_cells
                                          else math.nan)
        self.car_t_active, self.car_t_exhausted = int(c[4]), int(c[5])
        self.car_t_cells = self.car_t_active + self.car_t_exhausted
        self.car_t_in_tumour = int(c[6])
        self.infiltration_depth_um = float(c[7]) / float(c[6]) * self.site_um if c[6] else 0.0

    def _decide(self, k: int) -> None:
        if self.killable == 0 and self.positive_clearance_hours is None:
            self.positive_clearance_hours = self.time_hours
        if self.tumour_cells == 0:
            self.eliminated = True
            self.elimination_hours = self.time_hours
            self.stop_reason = "eliminated"
        elif self.killable == 0 and self.p["transient_loss_per_day"] == 0:
            # Loss is one-way here, so nothing left can ever be recognised again.
            self.stop_reason = "no_antigen_left"
        elif self.car_t_cells == 0 and self._pending == 0 and (
                self.arrivals is None or self.arrivals.remaining_after(k - 1) == 0):
            self.stop_reason = "car_t_extinct"
        else:
            return
        if self.eliminated or self.stop_early:
            self.running = False

    # -- read-outs ------------------------------------------------------------------------------------------
    def run(self, steps: int) -> TumourModel:
        """Step until the outcome is decided or ``steps`` steps have run; returns self."""
        while self.running and self.steps < steps:
            self.step()
        if self.running and self.stop_reason == "running":
            self.stop_reason = "max_steps"
        return self

    def series(self):
        """Time series as a pandas DataFrame, one row per step (step 0 = initial state)."""
        df = self.datacollector.get_model_vars_dataframe()
        df.index.name = "step"
        return df

    def summary(self) -> dict[str, Any]:
        """End state: outcome, counts (cells), time (hours, days), infiltration depth (µm)."""
        frac = self.antigen_negative_fraction
        return {
            "eliminated": bool(self.eliminated),
            "stop_reason": self.stop_reason,
            "steps": int(self.steps),
            "time_hours": float(self.time_hours),
            "elimination_hours": self.elimination_hours,
            "elimination_days": None if self.elimination_hours is None else self.elimination_hours / 24.0,
            "positive_clearance_hours": self.positive_clearance_hours,
            "tumour_cells": self.tumour_cells,
            "initial_tumour_cells": self.initial_tumour_cells,
            "antigen_high": self.antigen_high,
            "antigen_low": self.antigen_low,
            "antigen_negative": self.antigen_negative,
            "antigen_negative_fraction": None if math.isnan(frac) else float(frac),
            "car_t_cells": self.car_t_cells,
            "car_t_active": self.car_t_active,
            "car_t_exhausted": self.car_t_exhausted,
            "car_t_in_tumour": self.car_t_in_tumour,
            "infiltration_depth_um": self.infiltration_depth_um,
            "dose": self.dose,
            "arrived": self.arrived,
            "killable": self.killable,
            "kills": self.kills,
        }
