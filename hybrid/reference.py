"""A readable reference implementation of the hybrid ODE–SSA algorithm for the Kimmel et al. (2021) model, in
plain Python with NumPy and SciPy: no Numba, one ``scipy.integrate.solve_ivp`` call per phase or event.

It is slow on purpose. It exists to state the algorithm of :mod:`hybrid.engine` in a form one can read in one
sitting, to cross-check the jitted engine, and as the "plain Python" peer of the benchmarks. Cells and days.

The algorithm (the same as the engine's exact method):

1. Deterministic phase: N, C and B follow the mean-field ODE (Dormand–Prince 5(4), ``RK45``) until B falls below
   ``threshold`` (the crossing is located on the dense output by ``solve_ivp``'s event finder), B reaches
   ``progression_factor * B0`` (progression) or the follow-up ends (censored).
2. Stochastic phase: B becomes the integer ``round(threshold)``. N and C stay on the ODE; the total tumour
   propensity ``a0(t) = B * (lambda + mu(t))`` with ``lambda = r_B + d_B`` and
   ``mu(t) = d_B + gamma_B C(t) / (k_B + C(t))`` varies with C(t), so its integral is carried as an extra ODE
   component and the next event fires when it reaches an Exp(1) draw (exact time-varying SSA, nothing frozen).
   The event is a birth with probability lambda / (lambda + mu(t)), else a death.
3. B = 0 is a cure; B back at ``hysteresis * threshold`` returns it to the ODE (step 1).

Doses (``SimOptions.doses``) and tau-leaping are not covered: this is the reference for the exact method on the
single-infusion protocol.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.integrate import solve_ivp

from .errors import CartsimError
from .options import SimOptions
from .params import Parameters

ATOL = 1e-30
"""Absolute tolerance of the ODE solves: effectively pure relative error control, as in the engine."""


@dataclass(frozen=True)
class _Rates:
    """The Kimmel model's right-hand side and per-cell tumour rates (1/day)."""

    p: Parameters

    def lymphocytes(self, n: float, c: float) -> tuple[float, float]:
        """dN/dt and dC/dt (cells/day): Gompertz growth towards K_N and K_C."""
        p = self.p
        total = n + c
        if total <= 0.0:
            return 0.0, 0.0
        d = total - p.K_N
        r_c = p.rho_C + p.b * d * d / (p.a * total * total + d * d)
        dn = -p.r_N * n * math.log(total / p.K_N) if n > 0.0 else 0.0
        dc = -r_c * c * math.log(total / p.K_C) if c > 0.0 else 0.0
        return dn, dc

    def birth(self) -> float:
        """Per-cell tumour division rate lambda (1/day)."""
        return self.p.r_B + self.p.d_B

    def death(self, c: float) -> float:
        """Per-cell tumour death rate mu = d_B + gamma_B C / (k_B + C) (1/day)."""
        return self.p.d_B + self.p.gamma_B * c / (self.p.k_B + c)

    def mean_field(self, t: float, y: np.ndarray) -> list[float]:
        """d(N, C, B)/dt of the mean-field ODE."""
        n, c, b = y
        dn, dc = self.lymphocytes(n, c)
        return [dn, dc, (self.birth() - self.death(c)) * b]

    def with_hazard(self, b: int):
        """d(N, C, H)/dt for the stochastic phase: B is the fixed integer ``b`` between events and H integrates
        the total tumour propensity b * (lambda + mu(C(t)))."""

        def rhs(t: float, z: np.ndarray) -> list[float]:
            n, c, _ = z
            dn, dc = self.lymphocytes(n, c)
            return [dn, dc, b * (self.birth() + self.death(c))]

        return rhs


def _level_event(index: int, level: float, direction: float):
    """A terminal ``solve_ivp`` event: component ``index`` crosses ``level`` in ``direction`` (+1 up, -1 down)."""

    def event(_t: float, y: np.ndarray) -> float:
        return y[index] - level

    event.terminal = True  # type: ignore[attr-defined]
    event.direction = direction  # type: ignore[attr-defined]
    return event


def simulate_patient_reference(params: Parameters, rng: np.random.Generator,
                               options: SimOptions | None = None) -> dict:
    """Simulate one patient with the hybrid exact method, in plain Python (slow: ~0.1–1 s per patient).

    Returns ``{"outcome": "cure" | "progression" | "censored", "t_event_days": float (t_end when censored),
    "n_events": int (stochastic births and deaths fired)}``."""
    options = options or SimOptions()
    if options.doses:
        raise CartsimError("the reference implementation covers the single-infusion protocol only (no doses)")
    if options.method != "ssa":
        raise CartsimError("the reference implementation covers the exact method only (method='ssa')")
    rates = _Rates(params)
    t_end = options.t_end
    threshold, up_threshold = options.threshold, options.threshold * options.hysteresis
    prog_level = options.progression_factor * params.B0

    t = 0.0
    n, c = params.N0, params.C0
    b: float = params.B0
    stochastic = b < threshold
    if stochastic:
        b = math.floor(b + 0.5)
    n_events = 0

    def result(outcome: str, when: float) -> dict:
        return {"outcome": outcome, "t_event_days": float(when), "n_events": n_events}

    while True:
        if not stochastic:
            below = _level_event(2, threshold, -1.0)
            progress = _level_event(2, prog_level, 1.0)
            sol = solve_ivp(rates.mean_field, (t, t_end), [n, c, b], method="RK45", rtol=options.rtol,
                            atol=ATOL, events=[below, progress])
            t = float(sol.t[-1])
            n, c, b = (float(v) for v in sol.y[:, -1])
            if sol.status != 1:
                return result("censored", t_end)
            if sol.t_events[1].size:
                return result("progression", t)
            # The crossing: B becomes an integer count (as the engine does, round half up).
            b = math.floor(threshold + 0.5) if threshold >= 0.5 else 1.0
            stochastic = True
            continue

        # One exact event: integrate N, C and the hazard H until H reaches an Exp(1) draw.
        fires = _level_event(2, rng.exponential(), 1.0)
        sol = solve_ivp(rates.with_hazard(int(b)), (t, t_end), [n, c, 0.0], method="RK45", rtol=options.rtol,
                        atol=ATOL, events=[fires])
        t = float(sol.t[-1])
        n, c = float(sol.y[0, -1]), float(sol.y[1, -1])
        if sol.status != 1:
            return result("censored", t_end)
        lam, mu = rates.birth(), rates.death(c)
        b += 1.0 if rng.random() * (lam + mu) < lam else -1.0
        n_events += 1
        if b <= 0.0:
            return result("cure", t)
        if b >= prog_level:
            return result("progression", t)
        if b >= up_threshold:
            stochastic = False  # regrown: back to the ODE, B continuous again


def simulate_reference(params: Parameters, n: int, seed: int | np.random.SeedSequence,
                       options: SimOptions | None = None) -> list[dict]:
    """``n`` independent patients with the same parameters, one NumPy generator each from ``seed``."""
    seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [simulate_patient_reference(params, np.random.default_rng(s), options) for s in seq.spawn(n)]
