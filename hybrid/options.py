"""Simulation options shared by the engine, the oracle and the command line. Days and cells throughout."""

from __future__ import annotations

from dataclasses import dataclass, field

from .constraints import Boolean, Constraint, Interval, Optional, one_of
from .errors import CartsimError

METHODS = ("ssa", "tau")

OPTION_CONSTRAINTS: dict[str, Constraint] = {
    "t_end": Interval(lo=0.0, lo_open=True, hi=36525.0),  # a century of follow-up
    "threshold": Interval(lo=1.0),
    "method": one_of(METHODS),
    "hysteresis": Interval(lo=1.0, lo_open=True),
    "progression_factor": Interval(lo=1.0, lo_open=True),
    "rtol": Interval(lo=1e-13, hi=1e-3),
    "tau_epsilon": Interval(lo=0.0, hi=1.0, lo_open=True, hi_open=True),
    "tau_critical": Interval(lo=1.0),
    "record_dt": Optional(Interval(lo=0.0, lo_open=True)),
    "tabulated": Boolean(),
}
"""Accepted values of each :class:`SimOptions` field (days, cells); configs and the command line check against
these too."""


DOSE_CONSTRAINTS: dict[str, tuple[Constraint, str]] = {
    "day": (Interval(lo=0.0, lo_open=True), "days"),
    "car_t_cells": (Interval(lo=0.0), "cells"),
    "lymphodepletion": (Boolean(), ""),
}
"""Accepted values and units of each :class:`Dose` field."""


@dataclass(frozen=True)
class Dose:
    """A scheduled intervention at ``day``: add ``car_t_cells`` CAR T cells and, if ``lymphodepletion``,
    reset the normal T cells N to the patient's N0 first (the paper's second infusion, §3g)."""

    day: float
    car_t_cells: float = 0.0
    lymphodepletion: bool = False

    def __post_init__(self) -> None:
        for name, (constraint, unit) in DOSE_CONSTRAINTS.items():
            object.__setattr__(self, name, constraint.check(f"dose {name}", getattr(self, name), unit, CartsimError))


@dataclass(frozen=True)
class SimOptions:
    """How one hybrid patient is simulated.

    t_end: follow-up (days). threshold: the tumour goes stochastic below this many cells and back to the ODE
    at ``hysteresis * threshold``. method: exact SSA ("ssa") or tau-leaping handing over to the exact method
    at small counts ("tau"). progression_factor: progression when B >= factor * B0. rtol: ODE relative
    tolerance. doses: scheduled extra infusions. record_dt: if set, keep a trajectory sampled every record_dt
    days. tabulated: exact SSA of a one-species linear tumour reads its hazards off one tabulated mean-field
    solve, shared by identical patients (:mod:`hybrid.tabulated`); False forces the general path (same law).
    """

    t_end: float = 730.0
    threshold: float = 100.0
    method: str = "ssa"
    hysteresis: float = 2.0
    progression_factor: float = 1.2
    rtol: float = 1e-6
    tau_epsilon: float = 0.03
    tau_critical: float = 50.0
    doses: tuple[Dose, ...] = field(default_factory=tuple)
    record_dt: float | None = None
    tabulated: bool = True

    def __post_init__(self) -> None:
        for name, constraint in OPTION_CONSTRAINTS.items():
            object.__setattr__(self, name, constraint.check(name, getattr(self, name), error=CartsimError))
        object.__setattr__(self, "doses", tuple(sorted(self.doses, key=lambda d: d.day)))
        late = [d.day for d in self.doses if d.day >= self.t_end]
        if late:
            raise CartsimError(f"doses: dose day {late[0]:g} is not within follow-up ({self.t_end:g} days)")
