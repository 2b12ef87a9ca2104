"""Per-parameter distributions of a virtual cohort, sampled by inverse CDF from given uniforms.

Sampling by inverse CDF lets each patient draw one fixed vector of uniforms (one slot per parameter) from its
own random stream, so a patient's parameters never depend on chunking, workers or on which other parameters
are random.

The paper's variability hyperparameter v perturbs every parameter p with a normal distribution around its base
value m, truncated to valid values. "A variance of 5% of mean values" has two readings:

- ``reading = "sd"`` (default): standard deviation = v * m, i.e. a coefficient of variation v. It is
  dimensionally consistent (the same spread whether K_C is counted in cells or cells/µL), so it is the default.
- ``reading = "variance"``: variance = v * m, i.e. sd = sqrt(v * m). Literal, but unit-dependent: it leaves
  capacities in cells (~1e10) essentially fixed and perturbs small rates (rho_C ~ 0.025/day) by over 100%.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

from experiments.schema import Table, check_number, check_param
from hybrid.errors import CartsimError
from hybrid.paramspec import ParamSpec

DIST_KINDS = ("fixed", "normal", "lognormal", "uniform")
VARIABILITY_READINGS = ("sd", "variance")


@dataclass(frozen=True)
class Distribution:
    """kind and args: fixed (value,), normal (mean, sd, low, high) truncated to [low, high],
    lognormal (mu, sigma) of log(value) or (mu, sigma, low, high) truncated to [low, high], uniform
    (low, high)."""

    kind: str
    args: tuple[float, ...]

    @classmethod
    def lognormal(cls, median: float, sigma: float, within: tuple[float, float] | None = None) -> Distribution:
        """Lognormal with ``median`` (the parameter's unit) and ``sigma`` (sd of the log value), truncated to
        ``within`` = (low, high) when given."""
        mu = math.log(float(median))
        if within is None:
            return cls("lognormal", (mu, float(sigma)))
        return cls("lognormal", (mu, float(sigma), float(within[0]), float(within[1])))

    def kept(self) -> float:
        """The share of the untruncated lognormal inside its truncation (1 without one)."""
        if self.kind != "lognormal" or len(self.args) == 2:
            return 1.0
        mu, sigma, lo, hi = self.args
        if sigma == 0:
            return 1.0 if lo <= math.exp(mu) <= hi else 0.0
        return float(special.ndtr((_log(hi) - mu) / sigma) - special.ndtr((_log(lo) - mu) / sigma))

    def table(self) -> dict[str, Any]:
        """The ``[parameters.NAME]`` table that :func:`parse_distribution` reads back as this distribution."""
        if self.kind == "fixed":
            return {"dist": "fixed", "value": self.args[0]}
        if self.kind == "normal":
            mean, sd, lo, hi = self.args
            return {"dist": "normal", "mean": mean, "sd": sd, "min": lo, **({} if math.isinf(hi) else {"max": hi})}
        if self.kind == "lognormal":
            # 15 digits: the median as it was given, not exp(log(median))'s last-bit dust
            out = {"dist": "lognormal", "median": float(f"{math.exp(self.args[0]):.15g}"), "sigma": self.args[1]}
            return out if len(self.args) == 2 else out | {"min": self.args[2], "max": self.args[3]}
        return {"dist": "uniform", "low": self.args[0], "high": self.args[1]}

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Values at uniforms ``u`` in (0, 1)."""
        if self.kind == "fixed":
            return np.full(np.shape(u), self.args[0])
        if self.kind == "normal":
            mean, sd, lo, hi = self.args
            return truncnorm_ppf(u, mean, sd, lo, hi)
        if self.kind == "lognormal":
            mu, sigma = self.args[:2]
            if len(self.args) == 2:
                return np.exp(mu + sigma * special.ndtri(u))
            lo, hi = self.args[2:]
            if sigma == 0:
                return np.full(np.shape(u), min(max(math.exp(mu), lo), hi))
            a, b = special.ndtr((_log(lo) - mu) / sigma), special.ndtr((_log(hi) - mu) / sigma)
            return np.clip(np.exp(mu + sigma * special.ndtri(a + np.asarray(u) * (b - a))), lo, hi)
        low, high = self.args
        return low + (high - low) * np.asarray(u)

    def mean(self) -> float:
        """Mean of the (untruncated for normal) distribution, for defaults and plots."""
        if self.kind in ("fixed",):
            return self.args[0]
        if self.kind == "normal":
            return self.args[0]
        if self.kind == "lognormal":  # untruncated
            return math.exp(self.args[0] + self.args[1] ** 2 / 2)
        return (self.args[0] + self.args[1]) / 2


def _log(x: float) -> float:
    """log x, with log 0 = -inf (a truncation at 0 is no truncation)."""
    return math.log(x) if x > 0 else -math.inf


def truncnorm_ppf(u: np.ndarray, mean: float | np.ndarray, sd: float | np.ndarray, lo: float | np.ndarray,
                  hi: float | np.ndarray = np.inf) -> np.ndarray:
    """Inverse CDF of Normal(mean, sd) truncated to [lo, hi]; sd = 0 gives ``mean`` (clipped).

    Stable however far the window lies in a tail: below the mean the lower-tail CDF is inverted directly (the
    common case, cheap and exact to rounding); a window above the mean is mirrored into the lower tail, so its
    tail probability keeps full relative precision instead of rounding to 1; where even that underflows (beyond
    ~37 sd) SciPy's log-space ``truncnorm`` takes over."""
    u = np.asarray(u, dtype=float)
    mean, sd, lo, hi = (np.broadcast_to(np.asarray(x, dtype=float), u.shape) for x in (mean, sd, lo, hi))
    out = np.clip(mean, lo, hi).astype(float)
    m = sd > 0
    if not np.any(m):
        return out
    a = (lo[m] - mean[m]) / sd[m]
    b = (hi[m] - mean[m]) / sd[m]
    um = u[m]
    upper = a > 0  # the window lies above the mean: mirror it, z -> -z, u -> 1 - u
    lo_z = np.where(upper, -b, a)
    hi_z = np.where(upper, -a, b)
    v = np.where(upper, 1.0 - um, um)
    pa, pb = special.ndtr(lo_z), special.ndtr(hi_z)
    z = special.ndtri(pa + v * (pb - pa))
    z = np.where(upper, -z, z)
    tiny = ~(pb > 0) | ~np.isfinite(z)
    if np.any(tiny):
        from scipy import stats  # rarely needed, and heavy for every worker process to import

        z[tiny] = stats.truncnorm.ppf(um[tiny], a[tiny], b[tiny])
    out[m] = np.clip(mean[m] + sd[m] * z, lo[m], hi[m])
    return out


def variability_sd(mean: np.ndarray | float, v: np.ndarray | float, reading: str) -> np.ndarray:
    """Standard deviation of the variability perturbation of a parameter with base value ``mean``."""
    mean = np.abs(np.asarray(mean, dtype=float))
    v = np.asarray(v, dtype=float)
    if reading == "sd":
        return v * mean
    if reading == "variance":
        return np.sqrt(v * mean)
    raise CartsimError(f"variability reading must be one of {', '.join(VARIABILITY_READINGS)}, got {reading!r}")


def parse_distribution(source: str, keypath: str, spec: ParamSpec, raw: Mapping[str, Any]) -> Distribution:
    """Validate a ``[parameters.NAME]`` table into a Distribution. Accepted forms:
    ``{dist="fixed", value}``, ``{dist="normal", mean, sd, min?, max?}``, ``{dist="lognormal", median, sigma}``
    or ``{dist="lognormal", mean, sd}``, ``{dist="uniform", low, high}``."""
    t = Table(source, keypath, raw)
    kind = t.raw("dist")
    if kind not in DIST_KINDS:
        t.fail(t.key("dist"), f"{kind!r} is not a distribution; accepted: {', '.join(DIST_KINDS)}")
    floor = spec.lower_bound
    if kind == "fixed":
        val = check_param(source, t.key("value"), spec, t.raw("value"))
        t.done(["dist", "value"])
        return Distribution("fixed", (val,))
    if kind == "normal":
        mean = t.number("mean", required=True)
        sd = t.number("sd", required=True, lo=0.0)
        lo = t.number("min", None)
        hi = t.number("max", None)
        t.done(["dist", "mean", "sd", "min", "max"])
        # truncated to valid values: never below the parameter's floor
        lo = floor if lo is None else check_param(source, t.key("min"), spec, lo)
        hi = math.inf if hi is None else check_number(source, t.key("max"), hi, lo=lo, lo_open=True)
        if sd == 0:
            check_param(source, t.key("mean"), spec, mean)
        if mean > hi + 10 * sd or mean < lo - 10 * sd:
            t.fail(t.key("mean"), f"lies more than 10 sd outside [{lo:g}, {hi:g}]: the truncated normal is "
                                  "degenerate")
        return Distribution("normal", (mean, sd, lo, hi))
    if kind == "lognormal":
        if t.has("median") or t.has("sigma"):
            med = check_number(source, t.key("median"), t.raw("median"), lo=0.0, lo_open=True)
            sigma = check_number(source, t.key("sigma"), t.raw("sigma"), lo=0.0)
            within = None
            if t.has("min") or t.has("max"):
                lo = check_param(source, t.key("min"), spec, t.raw("min")) if t.has("min") else 0.0
                hi = check_param(source, t.key("max"), spec, t.raw("max")) if t.has("max") else math.inf
                if not lo < hi:
                    t.fail(t.key("max"), f"must be above min ({lo:g}), got {hi:g}")
                within = (lo, hi)
            t.done(["dist", "median", "sigma", "min", "max"])
            d = Distribution.lognormal(med, sigma, within)
            if d.kept() < 1e-9:
                t.fail(t.key("median"), f"the lognormal puts (almost) nothing inside [{lo:g}, {hi:g}]")
            return d
        mean = check_number(source, t.key("mean"), t.raw("mean"), lo=0.0, lo_open=True)
        sd = check_number(source, t.key("sd"), t.raw("sd"), lo=0.0)
        t.done(["dist", "median", "sigma", "mean", "sd"])
        s2 = math.log1p((sd / mean) ** 2)
        return Distribution("lognormal", (math.log(mean) - s2 / 2, math.sqrt(s2)))
    low = check_param(source, t.key("low"), spec, t.raw("low"))
    high = check_number(source, t.key("high"), t.raw("high"), lo=low, lo_open=True)
    t.done(["dist", "low", "high"])
    return Distribution("uniform", (low, high))
