"""Simulation options shared by the engine, the oracle and the command line. Days and cells throughout."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .errors import CartsimError

METHODS = ("ssa", "tau")


@dataclass(frozen=True)
class Dose:
    """A scheduled intervention at ``day``: add ``car_t_cells`` CAR T cells and, if ``lymphodepletion``,
    reset the normal T cells N to the patient's N0 first (the paper's second infusion, §3g)."""

    day: float
    car_t_cells: float = 0.0
    lymphodepletion: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.day) and self.day > 0):
            raise CartsimError(f"dose day must be a finite number > 0 (days), got {self.day!r}")
        if not (math.isfinite(self.car_t_cells) and self.car_t_cells >= 0):
            raise CartsimError(f"dose car_t_cells must be finite and >= 0 (cells), got {self.car_t_cells!r}")


@dataclass(frozen=True)
class SimOptions:
    """How one hybrid patient is simulated.

    t_end: follow-up (days). threshold: the tumour goes stochastic below this many cells and back to the ODE
    at ``hysteresis * threshold``. method: exact SSA ("ssa") or tau-leaping handing over to the exact method
    at small counts ("tau"). progression_factor: progression when B >= factor * B0. rtol: ODE relative
    tolerance. doses: scheduled extra infusions. record_dt: if set, keep a trajectory sampled every record_dt
    days.
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

    def __post_init__(self) -> None:
        def need(ok: bool, what: str, got: object) -> None:
            if not ok:
                raise CartsimError(f"{what}, got {got!r}")

        finite = math.isfinite
        need(finite(self.t_end) and self.t_end > 0, "t_end must be a finite number of days > 0", self.t_end)
        need(finite(self.threshold) and self.threshold >= 1, "threshold must be >= 1 cell", self.threshold)
        need(self.method in METHODS, f"method must be one of {', '.join(METHODS)}", self.method)
        need(finite(self.hysteresis) and self.hysteresis > 1, "hysteresis must be > 1", self.hysteresis)
        need(finite(self.progression_factor) and self.progression_factor > 1,
             "progression_factor must be > 1", self.progression_factor)
        need(finite(self.rtol) and 1e-13 <= self.rtol <= 1e-3, "rtol must be in [1e-13, 1e-3]", self.rtol)
        need(finite(self.tau_epsilon) and 0 < self.tau_epsilon < 1, "tau_epsilon must be in (0, 1)",
             self.tau_epsilon)
        need(finite(self.tau_critical) and self.tau_critical >= 1, "tau_critical must be >= 1 cell",
             self.tau_critical)
        need(self.record_dt is None or (finite(self.record_dt) and self.record_dt > 0),
             "record_dt must be None or a number of days > 0", self.record_dt)
        object.__setattr__(self, "doses", tuple(sorted(self.doses, key=lambda d: d.day)))
