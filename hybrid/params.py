"""Model parameters: the declaration of one parameter (:class:`ParamSpec`) and a validated parameter set of one
patient for one model (:class:`Parameters`).

Which parameters exist is the model's business (see :mod:`hybrid.models`); this module knows none of them.
Units: cells and days (rates per day). ``Parameters`` is immutable and validated on construction, so a bad value
fails before any simulation starts, with an error naming it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .constraints import POSITIVE, Interval
from .errors import ParameterError

if TYPE_CHECKING:
    from .model import ModelSpec


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "bounds", _physical(self.bounds, self.unit))
        if not self.bounds.contains(self.default):
            raise ValueError(f"parameter {self.name}: default {self.default:g} outside {self.bounds.describe()}")

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


def _spec(model: ModelSpec | str | None) -> ModelSpec:
    from .models import get_model  # the registry imports this module: resolve lazily

    return get_model(model)


class Parameters(Mapping[str, float]):
    """A validated parameter set of one patient for one model, in the model's parameter order.

    Read values as attributes (``p.K_C``) or items (``p["K_C"]``). Cells and days throughout."""

    __slots__ = ("_values", "model")

    def __init__(self, model: ModelSpec | str | None = None, /, **values: Any):
        spec = _spec(model)
        unknown = [k for k in values if k not in spec.param_specs]
        if unknown:
            raise ParameterError(f"unknown parameter {unknown[0]!r} of model {spec.name}; accepted: "
                                 f"{', '.join(spec.param_names)}")
        missing = [k for k in spec.param_names if k not in values]
        if missing:
            raise ParameterError(f"missing parameter(s) of model {spec.name}: {', '.join(missing)}")
        object.__setattr__(self, "model", spec)
        object.__setattr__(self, "_values", {k: spec.param_specs[k].check(values[k]) for k in spec.param_names})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Parameters are immutable; use replace()")

    def __getattr__(self, name: str) -> float:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"model {self.model.name} has no parameter {name!r}") from None

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Parameters) and other.model.name == self.model.name and \
            other._values == self._values

    def __hash__(self) -> int:
        return hash((self.model.name, tuple(self._values.values())))

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v:g}" for k, v in self._values.items())
        return f"Parameters({self.model.name!r}, {vals})"

    def __reduce__(self):
        return (_rebuild, (self.model.name, self._values))

    @classmethod
    def from_preset(cls, preset: str | None = None, model: ModelSpec | str | None = None,
                    **overrides: Any) -> Parameters:
        """The model's preset (default: its first) with ``overrides`` applied, each validated."""
        spec = _spec(model)
        return cls(spec, **{**spec.preset(preset), **overrides})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], model: ModelSpec | str | None = None) -> Parameters:
        """Build from a mapping that names every parameter of the model; unknown or missing names are errors."""
        return cls(model, **values)

    @classmethod
    def from_values(cls, values: Sequence[float], model: ModelSpec | str | None = None) -> Parameters:
        """Build from values in the model's parameter order (a row of a cohort table)."""
        spec = _spec(model)
        if len(values) != len(spec.param_names):
            raise ParameterError(f"model {spec.name} has {len(spec.param_names)} parameters, got {len(values)}")
        return cls(spec, **dict(zip(spec.param_names, values, strict=True)))

    def replace(self, **overrides: Any) -> Parameters:
        """A copy with ``overrides`` applied (each validated)."""
        return Parameters(self.model, **{**self._values, **overrides})

    def as_dict(self) -> dict[str, float]:
        return dict(self._values)

    def as_array(self) -> np.ndarray:
        """Values in the model's parameter order, as the jitted kernels take them."""
        return np.fromiter(self._values.values(), dtype=np.float64, count=len(self._values))


def _rebuild(model: str, values: dict[str, float]) -> Parameters:
    return Parameters(model, **values)


def parameter_matrix(spec: ModelSpec, columns: Mapping[str, Any], n: int) -> np.ndarray:
    """(n, n_params) validated parameter matrix of model ``spec`` from per-parameter columns; a missing or
    unknown name is an error."""
    unknown = [k for k in columns if k not in spec.param_specs]
    if unknown:
        raise ParameterError(f"unknown parameter {unknown[0]!r} of model {spec.name}; accepted: "
                             f"{', '.join(spec.param_names)}")
    out = np.empty((n, len(spec.param_names)))
    for j, name in enumerate(spec.param_names):
        if name not in columns:
            raise ParameterError(f"missing parameter {name} of model {spec.name}")
        out[:, j] = spec.param_specs[name].check_array(columns[name])
    return out
