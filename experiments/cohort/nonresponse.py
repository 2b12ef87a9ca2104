"""Mechanistic non-response: classes of patients who do not respond for a cause the papers name, each a share
of the population (config table ``[nonresponse]``).

- ``failed_expansion``: the product fails to expand (fitness, exhaustion; Huang et al., seed 000): the patient's
  CAR T capacity K_C is ``failed_expansion_factor`` times its drawn value. In Kimmel's model CAR T cells only
  expand while N + C stays below K_C; after lymphodepletion (N0 = 3e9) a tenth of Table 1's K_C holds the
  peak near the infused level (0.6 cells/µL instead of 30), below the killing saturation k_B.
- ``antigen_low``: the tumour carries too little target antigen (CD19-negative or -low cells, seed 000): the
  maximal killing rate gamma_B is ``antigen_low_factor`` times its drawn value, while CAR T cells expand as in
  responders (their exposure is not lower).

Both keep the tumour linear, so the exact path (Kendall's law) holds for every class. A modified value is
kept inside the parameter's plausible range (:attr:`hybrid.paramspec.ParamSpec.plausible`): a class is a
biology inside the population, not an implausible patient. Each patient's class comes from its own stream
(seed, id), so the class does not depend on chunking or workers. (Antigen-negative *clones* next to positive
ones are :mod:`hybrid.models.antigen_escape`'s ``f_neg``: two clones have no tumour-size law, so their PFS is
Monte Carlo only.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from experiments.schema import Table
from hybrid.catalog import get_model
from hybrid.rng import SpawnedSeeds

NONRESPONSE_TAG = 0x4E4F_4E52  # "NONR": the entropy tag of each patient's class draw
_U53 = 2.0**-53

CLASSES: dict[str, tuple[str, float, str]] = {
    "failed_expansion": ("K_C", 0.1, "assumed: a tenth of the drawn CAR T capacity, enough to stop expansion "
                                     "after lymphodepletion in Kimmel's model"),
    "antigen_low": ("gamma_B", 0.1, "assumed: a tenth of the antigen, a tenth of the maximal killing rate"),
}
"""Class -> (the parameter it acts on, default factor, the factor's source)."""


@dataclass(frozen=True)
class NonResponse:
    """Shares of the population in each non-response class (0-1, summing to at most 1) and each class's factor
    on its parameter (:data:`CLASSES`)."""

    shares: Mapping[str, float] = field(default_factory=dict)
    factors: Mapping[str, float] = field(default_factory=dict)

    def factor(self, name: str) -> float:
        return float(self.factors.get(name, CLASSES[name][1]))

    @property
    def active(self) -> bool:
        return any(v > 0 for v in self.shares.values())

    def with_shares(self, shares: Mapping[str, float]) -> NonResponse:
        return NonResponse({**self.shares, **shares}, self.factors)

    def table(self) -> dict[str, float]:
        """The ``[nonresponse]`` config table of these shares and factors."""
        out: dict[str, float] = {}
        for name in CLASSES:
            if name in self.shares:
                out[name] = float(self.shares[name])
                out[f"{name}_factor"] = self.factor(name)
        return out

    def classes(self, seed: int, ids: np.ndarray) -> np.ndarray:
        """Each patient's class: 0 for none, k for the k-th class of :data:`CLASSES` (from the patient's own
        class stream, one uniform each)."""
        u = ((SpawnedSeeds((seed, NONRESPONSE_TAG), ids).states(1)[:, 0] >> np.uint64(11)).astype(np.float64)
             + 0.5) * _U53
        return assign(u, [float(self.shares.get(c, 0.0)) for c in CLASSES])

    def apply(self, patients: pd.DataFrame, cls: np.ndarray, model: str) -> pd.DataFrame:
        """``patients`` with each class's parameter multiplied by its factor (kept within the plausible
        range) for the patients of that class."""
        mspec = get_model(model)
        out = patients.copy()
        for k, (name, (param, _, _)) in enumerate(CLASSES.items(), start=1):
            rows = cls == k
            if not rows.any():
                continue
            ps = mspec.param_specs[param]
            v = out.loc[rows, param].to_numpy(float) * self.factor(name)
            if ps.plausible is not None:
                v = np.clip(v, *ps.plausible)
            out.loc[rows, param] = v
        return out


def assign(u: np.ndarray, shares: list[float]) -> np.ndarray:
    """Class index per uniform ``u``: class k (1-based) for u in its slice of [0, 1) by ``shares``; 0 above."""
    edges = np.cumsum(shares)
    k = np.searchsorted(edges, u, side="right") + 1
    return np.where(k > len(shares), 0, k).astype(np.int8)


def parse_nonresponse(t: Table, model: str, fitted: bool = False) -> tuple[NonResponse, dict[str, tuple[float, float]]]:
    """The ``[nonresponse]`` table: each class's share (0-1; with ``fitted``, also ``[low, high]`` bounds to fit)
    and factor (in (0, 1]). Returns the shares and factors (a fitted share at the middle of its bounds) and the
    bounds of the fitted shares."""
    mspec = get_model(model)
    shares: dict[str, float] = {}
    factors: dict[str, float] = {}
    bounds: dict[str, tuple[float, float]] = {}
    for name, (param, default, _) in CLASSES.items():
        if not (t.has(name) or t.has(f"{name}_factor")):
            continue
        if param not in mspec.param_specs:
            t.fail(t.key(name), f"acts on {param}, which model {model} does not have")
        raw = t.raw(name, 0.0)
        if fitted and isinstance(raw, list):
            if len(raw) != 2 or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in raw):
                t.fail(t.key(name), "must be a share in [0, 1] or [low, high] bounds to fit")
            lo, hi = float(raw[0]), float(raw[1])
            if not 0.0 <= lo < hi < 1.0:
                t.fail(t.key(name), f"bounds must satisfy 0 <= low < high < 1, got [{lo:g}, {hi:g}]")
            bounds[name] = (lo, hi)
            shares[name] = 0.5 * (lo + hi)
            t.seen.add(name)
        else:
            shares[name] = float(t.number(name, 0.0, lo=0.0, hi=1.0))
        factors[name] = float(t.number(f"{name}_factor", default, lo=0.0, lo_open=True, hi=1.0))
    t.done([n for c in CLASSES for n in (c, f"{c}_factor")])
    fixed = sum(v for k, v in shares.items() if k not in bounds)
    top = fixed + sum(b[1] for b in bounds.values())
    if top > 1.0 + 1e-12:
        t.fail(t.path, f"the shares of the classes can sum to {top:g}; at most 1 (every patient is in one class "
                       "at most)")
    return NonResponse(shares, factors), bounds


def describe(nr: NonResponse | None) -> dict[str, Any]:
    """Shares, factors and what each class acts on, for summaries."""
    if nr is None:
        return {}
    return {name: {"share": float(nr.shares[name]), "parameter": CLASSES[name][0], "factor": nr.factor(name),
                   "factor_source": CLASSES[name][2]} for name in CLASSES if name in nr.shares}
