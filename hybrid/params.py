"""Kimmel et al. (2021) parameters: names, units, valid ranges, presets and validation.

Parameters keep the paper's names. Units: cells and days (rates per day). ``Parameters`` is immutable and is
validated on construction, so a bad value fails before any simulation starts, with an error naming it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .errors import ParameterError


@dataclass(frozen=True)
class ParamSpec:
    """One model parameter: its unit, meaning and the smallest value it may take."""

    name: str
    unit: str
    doc: str
    positive: bool = True
    """True: must be > 0. False: must be >= 0."""


PARAM_SPECS: dict[str, ParamSpec] = {
    s.name: s
    for s in (
        ParamSpec("K_N", "cells", "normal T-cell carrying capacity"),
        ParamSpec("K_C", "cells", "CAR T-cell carrying capacity"),
        ParamSpec("r_N", "1/day", "normal T-cell growth rate"),
        ParamSpec("rho_C", "1/day", "baseline CAR T growth rate", positive=False),
        ParamSpec("a", "1", "signalling inefficiency in r_C"),
        ParamSpec("b", "1/day", "immune-reconstitution impact in r_C", positive=False),
        ParamSpec("r_B", "1/day", "tumour net growth rate"),
        ParamSpec("gamma_B", "1/day", "maximal killing rate", positive=False),
        ParamSpec("k_B", "cells", "killing saturation constant"),
        ParamSpec("d_B", "1/day", "intrinsic tumour death rate (birth rate is r_B + d_B)", positive=False),
        ParamSpec("N0", "cells", "normal T cells at infusion (after lymphodepletion)", positive=False),
        ParamSpec("C0", "cells", "CAR T cells infused", positive=False),
        ParamSpec("B0", "cells", "tumour cells at infusion"),
        ParamSpec("s_B", "1/day", "tumour stimulation of CAR T growth (model kimmel2021_bfeedback only)",
                  positive=False),
        ParamSpec("h_B", "cells", "tumour size at half-maximal stimulation (model kimmel2021_bfeedback only)"),
    )
}
PARAM_NAMES: tuple[str, ...] = tuple(PARAM_SPECS)

_TABLE1 = {
    "K_N": 2.50e11,
    "K_C": 6.96e10,
    "r_N": 0.170,
    "rho_C": 0.0251,
    "a": 0.423,
    "b": 0.525,
    "r_B": 0.10,
    "gamma_B": 1.15,
    "k_B": 2.024e9,
    "d_B": 0.0,
    "N0": 3.00e9,
    "C0": 1.80e8,
    "B0": 9.486e10,
    "s_B": 0.0,
    "h_B": 1.0e9,
}

# Parameters of model variants only; absent from a mapping, they take these values.
_OPTIONAL = {"s_B": 0.0, "h_B": 1.0e9}

PRESETS: dict[str, dict[str, float]] = {
    # Table 1 of Kimmel, Locke & Altrock (2021) with r_B = 0.1/day.
    "kimmel2021": dict(_TABLE1),
    # The paper's three PFS cohorts (Fig. 3b).
    "kimmel2021_slow": {**_TABLE1, "r_B": 0.105},
    "kimmel2021_medium": {**_TABLE1, "r_B": 0.19},
    "kimmel2021_fast": {**_TABLE1, "r_B": 0.265},
}


def check_value(name: str, value: object) -> float:
    """Return ``value`` as a float if it is valid for parameter ``name``, else raise ParameterError."""
    if name not in PARAM_SPECS:
        raise ParameterError(f"unknown parameter {name!r}; accepted: {', '.join(PARAM_NAMES)}")
    spec = PARAM_SPECS[name]
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ParameterError(f"parameter {name} must be a number ({spec.unit}), got {value!r}") from None
    if not math.isfinite(x):
        raise ParameterError(f"parameter {name} must be finite, got {value!r}")
    if spec.positive and x <= 0:
        raise ParameterError(f"parameter {name} must be > 0 ({spec.unit}), got {value!r}")
    if x < 0:
        raise ParameterError(f"parameter {name} must be >= 0 ({spec.unit}), got {value!r}")
    return x


def check_array(name: str, values: np.ndarray) -> np.ndarray:
    """Vectorised :func:`check_value` for a column of patients; the error names the first bad row."""
    if name not in PARAM_SPECS:
        raise ParameterError(f"unknown parameter {name!r}; accepted: {', '.join(PARAM_NAMES)}")
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"parameter {name} must be numeric ({PARAM_SPECS[name].unit})") from None
    spec = PARAM_SPECS[name]
    bad = ~np.isfinite(x) | ((x <= 0) if spec.positive else (x < 0))
    if bad.any():
        k = int(np.argmax(bad))
        check_value(name, x[k])  # raises with the standard message
    return x


def parameter_matrix(columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """(n, len(PARAM_NAMES)) validated parameter matrix from per-parameter columns; the variant-only
    parameters may be absent (defaults), any other missing or unknown name is an error."""
    unknown = [k for k in columns if k not in PARAM_SPECS]
    if unknown:
        raise ParameterError(f"unknown parameter {unknown[0]!r}; accepted: {', '.join(PARAM_NAMES)}")
    out = np.empty((n, len(PARAM_NAMES)))
    for j, name in enumerate(PARAM_NAMES):
        if name in columns:
            out[:, j] = check_array(name, columns[name])
        elif name in _OPTIONAL:
            out[:, j] = _OPTIONAL[name]
        else:
            raise ParameterError(f"missing parameter {name}")
    return out


@dataclass(frozen=True)
class Parameters:
    """A validated parameter set for one patient. Cells and days throughout."""

    K_N: float
    K_C: float
    r_N: float
    rho_C: float
    a: float
    b: float
    r_B: float
    gamma_B: float
    k_B: float
    d_B: float
    N0: float
    C0: float
    B0: float
    s_B: float = 0.0
    h_B: float = 1.0e9

    def __post_init__(self) -> None:
        for name in PARAM_NAMES:
            object.__setattr__(self, name, check_value(name, getattr(self, name)))

    @classmethod
    def from_preset(cls, preset: str = "kimmel2021", **overrides: float) -> Parameters:
        """Preset values with ``overrides`` applied (each validated)."""
        if preset not in PRESETS:
            raise ParameterError(f"unknown preset {preset!r}; accepted: {', '.join(PRESETS)}")
        return cls.from_mapping({**PRESETS[preset], **overrides})

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> Parameters:
        """Build from a mapping that names every parameter; unknown or missing names are errors."""
        unknown = [k for k in values if k not in PARAM_SPECS]
        if unknown:
            raise ParameterError(f"unknown parameter {unknown[0]!r}; accepted: {', '.join(PARAM_NAMES)}")
        values = {**_OPTIONAL, **values}
        missing = [k for k in PARAM_NAMES if k not in values]
        if missing:
            raise ParameterError(f"missing parameter(s): {', '.join(missing)}")
        return cls(**{k: values[k] for k in PARAM_NAMES})  # type: ignore[arg-type]

    def replace(self, **overrides: float) -> Parameters:
        """A copy with ``overrides`` applied (each validated)."""
        return Parameters.from_mapping({**self.as_dict(), **overrides})

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in PARAM_NAMES}

    def as_array(self) -> np.ndarray:
        """Values in ``PARAM_NAMES`` order, as the jitted kernels take them."""
        return np.array([getattr(self, k) for k in PARAM_NAMES], dtype=np.float64)
