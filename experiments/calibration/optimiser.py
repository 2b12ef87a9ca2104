"""Maximum likelihood with several starts, profile-likelihood intervals and an identifiability report, for any
negative log-likelihood of a few bounded coordinates (each fit module supplies its own)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats
from scipy.stats import qmc

Nll = Callable[[np.ndarray], float]

CHI2_95 = float(stats.chi2.ppf(0.95, 1))  # 3.84: a 95% profile interval is where 2 * (nll - min) <= 3.84
CORRELATED = 0.95
"""|correlation| of two estimates above which the report says the data cannot separate them."""


@dataclass
class Fit:
    """Result in optimiser coordinates: ``x`` (best), ``nll`` there, and every start's end point."""

    x: np.ndarray
    nll: float
    starts: list[dict] = field(default_factory=list)


def multistart(nll: Nll, bounds: Sequence[tuple[float, float]], n_starts: int, seed: int,
               x0: np.ndarray | None = None) -> Fit:
    """Minimise ``nll`` within ``bounds`` (L-BFGS-B, then Nelder–Mead polish) from ``x0`` (if given) and from
    Latin-hypercube points of the box; the best end point wins."""
    lo, hi = np.array(bounds, dtype=float).T
    pts = qmc.scale(qmc.LatinHypercube(len(bounds), seed=seed).random(max(n_starts, 1)), lo, hi)
    if x0 is not None:
        pts = np.vstack([np.clip(x0, lo, hi), pts])[:max(n_starts, 1)]
    best: Fit | None = None
    ends = []
    for p in pts:
        r = optimize.minimize(nll, p, method="L-BFGS-B", bounds=list(zip(lo, hi, strict=True)))
        r2 = optimize.minimize(nll, r.x, method="Nelder-Mead", bounds=list(zip(lo, hi, strict=True)),
                               options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 4000})
        x, f = (r2.x, float(r2.fun)) if r2.fun <= r.fun else (r.x, float(r.fun))
        ends.append({"start": p.tolist(), "x": x.tolist(), "nll": f})
        if best is None or f < best.nll:
            best = Fit(np.asarray(x, float), f)
    assert best is not None
    best.starts = ends
    return best


def profile(nll: Nll, fit: Fit, bounds: Sequence[tuple[float, float]], i: int, n_grid: int = 12
            ) -> tuple[float, float, bool, bool, list[tuple[float, float]]]:
    """95% profile-likelihood interval of coordinate ``i``: walk out from the optimum on each side, re-fitting
    the other coordinates, until 2 * (nll - min) exceeds 3.84 or the bound is reached. Returns (low, high,
    low reached the bound, high reached the bound, profile points (x_i, nll))."""
    lo, hi = np.array(bounds, dtype=float).T
    others = [j for j in range(len(bounds)) if j != i]
    pts: list[tuple[float, float]] = [(float(fit.x[i]), fit.nll)]

    def at(v: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        if not others:
            x = fit.x.copy()
            x[i] = v
            return nll(x), x

        def sub(y: np.ndarray) -> float:
            x = fit.x.copy()
            x[i] = v
            x[others] = y
            return nll(x)

        r = optimize.minimize(sub, start[others], method="L-BFGS-B", bounds=list(zip(lo[others], hi[others],
                                                                                         strict=True)))
        x = fit.x.copy()
        x[i] = v
        x[others] = r.x
        return float(r.fun), x

    ends = []
    for side, edge in ((-1, lo[i]), (+1, hi[i])):
        start = fit.x.copy()
        found = None
        for v in fit.x[i] + np.linspace(0, edge - fit.x[i], n_grid + 1)[1:]:
            f, start = at(float(v), start)
            pts.append((float(v), f))
            if 2 * (f - fit.nll) > CHI2_95:
                # interpolate the crossing between the last two points on this side
                prev = pts[-2] if len(pts) > 2 and (pts[-2][0] - fit.x[i]) * side > 0 else (float(fit.x[i]), fit.nll)
                g0, g1 = 2 * (prev[1] - fit.nll) - CHI2_95, 2 * (f - fit.nll) - CHI2_95
                found = prev[0] + (v - prev[0]) * (-g0) / (g1 - g0) if g1 != g0 else float(v)
                break
        ends.append((float(edge), True) if found is None else (float(found), False))
    pts.sort()
    return ends[0][0], ends[1][0], ends[0][1], ends[1][1], pts


def correlations(nll: Nll, x: np.ndarray, bounds: Sequence[tuple[float, float]]) -> np.ndarray | None:
    """Correlation matrix of the estimates from the finite-difference Hessian of ``nll`` at ``x``; None when
    the Hessian is not positive definite (a flat or downhill direction: some combination of the parameters is
    not identifiable at all, as with fewer observations than parameters), since no covariance exists then."""
    n = len(x)
    span = np.array([b[1] - b[0] for b in bounds])
    h = 1e-3 * np.maximum(span, 1e-8)
    H = np.empty((n, n))
    f0 = nll(x)
    for a in range(n):
        for b in range(a, n):
            ea, eb = np.eye(n)[a] * h[a], np.eye(n)[b] * h[b]
            if a == b:
                H[a, a] = (nll(x + ea) - 2 * f0 + nll(x - ea)) / h[a] ** 2
            else:
                H[a, b] = H[b, a] = (nll(x + ea + eb) - nll(x + ea - eb) - nll(x - ea + eb) + nll(x - ea - eb)) / (
                    4 * h[a] * h[b])
    if not np.all(np.isfinite(H)):
        return None
    eig = np.linalg.eigvalsh(H)
    if eig[0] <= 1e-9 * max(abs(eig[-1]), 1e-300):
        return None
    cov = np.linalg.inv(H)
    d = np.sqrt(np.diag(cov))
    return np.clip(cov / np.outer(d, d), -1.0, 1.0)


def identifiability(names: Sequence[str], corr: np.ndarray | None, intervals: dict[str, dict]) -> dict:
    """Which parameters the data cannot pin down (a profile that stays flat to a bound) and which pairs they
    cannot separate (|correlation| > 0.95)."""
    flat = [n for n in names if intervals[n]["low_at_bound"] or intervals[n]["high_at_bound"]]
    pairs = []
    if corr is not None:
        for a in range(len(names)):
            for b in range(a + 1, len(names)):
                if abs(corr[a, b]) > CORRELATED:
                    pairs.append({"pair": [names[a], names[b]], "correlation": float(corr[a, b])})
    return {"not_identifiable": flat if corr is not None else list(names), "inseparable_pairs": pairs,
            "correlation": None if corr is None else corr.round(4).tolist(),
            **({"covariance": "none: the likelihood is flat or not at a minimum in some direction (too few "
                              "observations for the free parameters)"} if corr is None else {}),
            "rule": f"a profile reaching a bound is not identifiable; |correlation| > {CORRELATED} flags a pair"}
