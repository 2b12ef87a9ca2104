"""The declaration of one model parameter (:class:`ParamSpec`): name, unit, meaning, source, accepted range.

Which parameters exist is the model's business (see :mod:`hybrid.models`); this module knows none of them.
Units: cells and days (rates per day). A patient's values are :class:`hybrid.params.Parameters`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .constraints import POSITIVE, Interval
from .errors import ParameterError

PHYSICAL_LIMITS: dict[str, tuple[float, float]] = {
    "cells": (1e-6, 1e15),
    "1/day": (0.0, 1e3),
}
"""Physical sanity range of a parameter by unit, applied on top of its declared bounds where those are open:
(smallest non-zero value, largest value). A human body holds about 3.7e13 cells (Bianconi et al. 2013), so
1e15 cells is no patient's; a rate of 1000 per day (one event every 90 seconds per cell) is no cell's. Outside
them the ODE is stiff or explosive beyond anything the model can mean, and a solve would not return."""


def _physical(bounds: Interval, unit: str) -> Interval:
    """``bounds`` narrowed to the unit's :data:`PHYSICAL_LIMITS` (a bound the declaration sets is kept)."""
    if unit not in PHYSICAL_LIMITS:
        return bounds
    tiny, big = PHYSICAL_LIMITS[unit]
    lo, lo_open = bounds.lo, bounds.lo_open
    if tiny > 0 and lo == 0.0 and lo_open:  # "> 0" becomes ">= tiny"
        lo, lo_open = tiny, False
    hi, hi_open = (big, False) if bounds.hi is None else (bounds.hi, bounds.hi_open)
    return Interval(lo=lo, hi=hi, lo_open=lo_open, hi_open=hi_open, integer=bounds.integer)


@dataclass(frozen=True)
class ParamSpec:
    """One model parameter: name, unit, meaning, default with its source, and accepted values (the declared
    ``bounds`` within the unit's :data:`PHYSICAL_LIMITS`)."""

    name: str
    unit: str
    doc: str
    default: float
    source: str
    """Where the default comes from (paper, table, figure) or "assumed"."""
    bounds: Interval = POSITIVE
    plausible: tuple[float, float] | None = None
    """The range of values seen in patients (same unit), where a source gives one; None: not declared."""
    plausible_source: str = ""
    """Where :attr:`plausible` comes from (paper, table, figure) or "assumed"."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "bounds", _physical(self.bounds, self.unit))
        if not self.bounds.contains(self.default):
            raise ValueError(f"parameter {self.name}: default {self.default:g} outside {self.bounds.describe()}")
        if self.plausible is not None:
            lo, hi = self.plausible
            if not (lo < hi and self.bounds.contains(lo) and self.bounds.contains(hi) and self.plausible_source):
                raise ValueError(f"parameter {self.name}: plausible range {self.plausible} must be low < high "
                                 "within the bounds, with its source")

    def display_range(self, value: float | None = None) -> tuple[float, float, bool]:
        """(low, high, log scale) for a control of this parameter: the plausible range where declared, else a
        decade either side of ``value`` (default: the default) on a log scale, or [0, 1] for a value of 0."""
        v = self.default if value is None else value
        if self.plausible is not None:
            lo, hi = self.plausible
            return lo, hi, lo > 0 and hi / lo > 20
        if v > 0:
            return max(v / 10, self.lower_bound), v * 10, True
        return 0.0, 1.0, False

    def check(self, value: Any) -> float:
        """``value`` as a float if it is accepted (a number, or a number written as text), else ParameterError."""
        return float(self.bounds.check(f"parameter {self.name}", value, self.unit, ParameterError, text=True))

    def check_array(self, values: Any) -> np.ndarray:
        """Vectorised :meth:`check` for a column of patients; the error names the first bad value."""
        try:
            x = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise ParameterError(f"parameter {self.name}: must be numeric ({self.unit})") from None
        ok = np.isfinite(x) & self.bounds.contains_array(x)
        if not ok.all():
            self.check(x[int(np.argmin(ok))])  # raises with the standard message
        return x

    @property
    def lower_bound(self) -> float:
        """Smallest accepted value (the next float above an open bound)."""
        lo = self.bounds.lo if self.bounds.lo is not None else -np.inf
        return float(np.nextafter(lo, np.inf)) if self.bounds.lo_open else float(lo)
