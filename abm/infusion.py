"""How many CAR T cells arrive on the grid in each step.

Intravenous arrivals follow the blood: the arrival rate is proportional to C(t), the circulating CAR T count
(``hybrid``'s blood trajectory, or by default an exponential transit with mean ``iv_transit_hours``), scaled so
that the whole dose arrives. Counts are rounded deterministically so that a dose is reproducible exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hybrid.errors import ParameterError

__all__ = ["Arrivals", "check_trajectory"]


def check_trajectory(trajectory) -> tuple[np.ndarray, np.ndarray]:
    """``(times_hours, counts)`` as float arrays; raises :class:`ParameterError` when unusable."""
    try:
        t, c = (np.asarray(a, dtype=float) for a in trajectory)
    except (TypeError, ValueError):
        raise ParameterError(
            "ABM argument blood_trajectory must be a pair (times in hours, CAR T counts in cells)"
        ) from None
    ok = (t.ndim == c.ndim == 1 and t.size == c.size and t.size >= 2 and bool(np.all(np.isfinite(t)))
          and bool(np.all(np.isfinite(c))) and bool(np.all(np.diff(t) > 0)) and bool(np.all(c >= 0))
          and c.sum() > 0)
    if not ok:
        raise ParameterError(
            "ABM argument blood_trajectory must be two equal-length 1-D arrays: strictly increasing times "
            "(hours, at least 2) and non-negative counts (cells), not all zero"
        )
    return t, c


class Arrivals:
    """Arrival counts of an intravenous dose of ``dose`` cells, step by step."""

    def __init__(self, dose: int, step_hours: float, transit_hours: float,
                 trajectory: Sequence | None = None) -> None:
        self.dose = int(dose)
        self.step_hours = step_hours
        self.transit_hours = transit_hours
        self._traj = None
        if trajectory is not None:
            t, c = check_trajectory(trajectory)
            cum = np.concatenate([[0.0], np.cumsum(0.5 * (c[1:] + c[:-1]) * np.diff(t))])
            self._traj = (t, c, cum)

    def cumulative(self, hours: float) -> int:
        """Cells arrived by ``hours`` after infusion."""
        if self._traj is None:
            frac = -np.expm1(-hours / self.transit_hours)
        else:
            frac = self._traj_fraction(hours)
        return int(np.floor(self.dose * frac + 0.5))

    def _traj_fraction(self, hours: float) -> float:
        """Exact integral of the piecewise-linear C(t) up to ``hours``, as a fraction of the whole."""
        t, c, cum = self._traj
        if hours <= t[0]:
            return 0.0
        if hours >= t[-1]:
            return 1.0
        i = int(np.searchsorted(t, hours, side="right")) - 1
        ch = c[i] + (c[i + 1] - c[i]) * (hours - t[i]) / (t[i + 1] - t[i])
        return float((cum[i] + 0.5 * (c[i] + ch) * (hours - t[i])) / cum[-1])

    def count(self, step_index: int) -> int:
        """Cells arriving during step ``step_index`` (0-based)."""
        t0 = step_index * self.step_hours
        return self.cumulative(t0 + self.step_hours) - self.cumulative(t0)

    def remaining_after(self, step_index: int) -> int:
        """Cells still to arrive after step ``step_index``."""
        return self.dose - self.cumulative((step_index + 1) * self.step_hours)
