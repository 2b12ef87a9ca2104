"""Named scenarios: parameter overrides on top of the defaults of :mod:`abm.params`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybrid.errors import CartsimError

from .params import validate_params

__all__ = ["SCENARIOS", "scenario_params"]

_NEG30 = {"frac_high": 0.7, "frac_low": 0.0, "frac_negative": 0.3}
_LOW30 = {"frac_high": 0.7, "frac_low": 0.3, "frac_negative": 0.0}

#: name -> (one-line description, overrides)
SCENARIOS: dict[str, tuple[str, dict[str, Any]]] = {
    "uniform_high": ("every tumour cell antigen-high; intravenous dose that clears it", {}),
    "mixed_negative": ("30% antigen-negative cells, well mixed", {**_NEG30, "pattern": "mixed"}),
    "clustered_negative": ("30% antigen-negative cells in patches", {**_NEG30, "pattern": "clustered"}),
    "mixed_low": ("30% antigen-low cells, well mixed", {**_LOW30, "pattern": "mixed"}),
    "clustered_low": ("30% antigen-low cells in patches", {**_LOW30, "pattern": "clustered"}),
    "intratumoural": ("uniform_high, dose injected into the tumour", {"route": "intratumoural"}),
    "iv_boundary": ("uniform_high, intravenous cells entering at the grid boundary", {"iv_entry": "boundary"}),
    "low_dose": ("uniform_high at a fifth of the dose", {"et_ratio": 0.05}),
    "high_dose": ("uniform_high at four times the dose", {"et_ratio": 1.0}),
    "no_exhaustion": ("uniform_high, CAR T cells never exhaust", {"exhaustion_hits": 100_000}),
    "fast_exhaustion": ("uniform_high, exhaustion after 3 hits, recovery at 0", {"exhaustion_hits": 3,
                                                                                 "recovery_hits": 0}),
    "antigen_loss": ("uniform_high with 1% permanent loss per division and transient loss 0.05/day",
                     {"antigen_loss_prob": 0.01, "transient_loss_per_day": 0.05}),
    "continuous_antigen": ("continuous antigen, lognormal CV 0.8, 30% low",
                           {**_LOW30, "antigen_mode": "continuous", "antigen_cv": 0.8}),
}


def scenario_params(name: str, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validated parameters of scenario ``name`` with ``overrides`` applied last."""
    if name not in SCENARIOS:
        raise CartsimError(f"unknown ABM scenario {name!r}; accepted: {', '.join(SCENARIOS)}")
    merged = {**SCENARIOS[name][1], **(overrides or {})}
    return validate_params(merged)
