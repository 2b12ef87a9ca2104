"""``cartsim predict``: one patient's posterior from early CAR T counts and a population prior, and the
posterior predictive probability of cure (exact oracle per posterior draw).

Prior: the population's lognormal distribution of each listed parameter (from a fit or a preset with
variability); other parameters fixed. Likelihood: log counts normal around the log mean field (sd
``error_sigma``), counts below the LLOQ censored. Sampler: emcee's affine-invariant ensemble in log parameters;
convergence is reported (acceptance fraction, integrated autocorrelation time against chain length).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import hybrid

from ..store import atomic_path, write_json
from .kinetics import effector_per_ul, patient_nll
from .population import fixed_values
from .spec import PredictSpec


def log_posterior_factory(spec: PredictSpec):
    mspec = hybrid.get_model(spec.model)
    names = list(spec.prior)
    mu = np.log([spec.prior[n]["median"] for n in names])
    sd = np.array([spec.prior[n]["sigma"] for n in names])
    base = fixed_values(spec.base, spec.model)
    data = spec.kinetics

    def log_post(x: np.ndarray) -> float:
        lp = float(-0.5 * np.sum(((x - mu) / sd) ** 2))
        try:
            p = hybrid.Parameters(mspec, **{**base, **dict(zip(names, np.exp(x), strict=True))})
        except hybrid.CartsimError:
            return -np.inf
        m = effector_per_ul(p, data.day)[0]
        return lp - patient_nll(np.log(np.maximum(m, 1e-300)), data, spec.error_sigma)

    return names, mu, sd, base, log_post


def run_predict(spec: PredictSpec, out_dir: Path, quiet: bool = True) -> dict[str, Any]:
    """Sample the posterior, write samples.parquet, prediction.json and figures; return the summary."""
    import emcee

    from ..runner import versions

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names, mu, sd, base, log_post = log_posterior_factory(spec)
    rng = np.random.default_rng(spec.seed)
    p0 = mu + 0.1 * sd * rng.standard_normal((spec.walkers, len(names)))
    sampler = emcee.EnsembleSampler(spec.walkers, len(names), log_post)
    sampler.random_state = np.random.RandomState(spec.seed).get_state()  # reproducible moves
    t0 = time.perf_counter()
    sampler.run_mcmc(p0, spec.steps, progress=not quiet, progress_kwargs={"file": sys.stderr})
    chain = sampler.get_chain(discard=spec.burn)  # (steps, walkers, dim)
    flat = chain.reshape(-1, len(names))
    logging.getLogger("emcee.autocorr").setLevel(logging.ERROR)  # reported in prediction.json instead
    tau = sampler.get_autocorr_time(discard=spec.burn, quiet=True)
    draws_idx = rng.choice(len(flat), size=min(spec.draws, len(flat)), replace=False)
    draws = np.exp(flat[draws_idx])
    mspec = hybrid.get_model(spec.model)
    params = [hybrid.Parameters(mspec, **{**base, **dict(zip(names, d, strict=True))}) for d in draws]
    t_end = float(spec.base.get("cohort", {}).get("follow_up_days", hybrid.SimOptions().t_end))
    p_cure = np.asarray(hybrid.cure_probability_exact(params, t_end, hybrid.SimOptions(t_end=t_end)))
    lo, med, hi = np.quantile(p_cure, [0.05, 0.5, 0.95])
    n_eff = len(flat) / max(float(np.max(tau)), 1.0)
    out = {
        "title": spec.title, "config": spec.source, "parameters": names,
        "posterior": {n: {"median": float(np.exp(np.median(flat[:, j]))),
                          "q05": float(np.exp(np.quantile(flat[:, j], 0.05))),
                          "q95": float(np.exp(np.quantile(flat[:, j], 0.95)))} for j, n in enumerate(names)},
        "p_cure": {"follow_up_days": t_end, "mean": float(p_cure.mean()), "median": float(med),
                   "credible_90": [float(lo), float(hi)], "draws": len(p_cure)},
        "convergence": {"acceptance_fraction": float(np.mean(sampler.acceptance_fraction)),
                        "autocorrelation_time": tau.tolist(), "chain_length": spec.steps - spec.burn,
                        "chain_over_50_tau": bool(spec.steps - spec.burn > 50 * np.max(tau)),
                        "effective_samples": float(n_eff)},
        "seconds": time.perf_counter() - t0, "versions": versions(),
    }
    samples = pd.DataFrame(np.exp(flat), columns=names)
    samples.insert(0, "walker", np.tile(np.arange(spec.walkers), chain.shape[0]))
    samples.insert(0, "step", np.repeat(np.arange(spec.burn, spec.steps), spec.walkers))
    with atomic_path(out_dir / "samples.parquet") as tmp:
        samples.to_parquet(tmp, index=False)
    write_json(out_dir / "prediction.json", out)
    _figures(spec, names, flat, sampler.get_chain(), draws, base, p_cure, out_dir)
    return out


def _figures(spec: PredictSpec, names, flat, chain, draws, base, p_cure, out_dir: Path) -> None:
    import corner
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = corner.corner(np.exp(flat), labels=names, axes_scale="log", quantiles=[0.05, 0.5, 0.95])
    fig.savefig(out_dir / "corner.png", dpi=100)
    plt.close(fig)
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 1.6 * len(names)), sharex=True, squeeze=False)
    for j, n in enumerate(names):
        axes[j, 0].plot(np.exp(chain[:, :, j]), lw=0.4, alpha=0.5)
        axes[j, 0].set(yscale="log", ylabel=n)
        axes[j, 0].axvline(spec.burn, color="k", ls="--", lw=0.8)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    fig.savefig(out_dir / "traces.png", dpi=100)
    plt.close(fig)
    mspec = hybrid.get_model(spec.model)
    d = spec.kinetics
    t = np.linspace(1.0, max(60.0, float(d.day.max()) * 1.5), 120)
    curves = effector_per_ul([hybrid.Parameters(mspec, **{**base, **dict(zip(names, x, strict=True))})
                              for x in draws[:200]], t)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    q = np.quantile(curves, [0.05, 0.5, 0.95], axis=0)
    a1.fill_between(t, q[0], q[2], alpha=0.3, label="posterior 90% band")
    a1.plot(t, q[1], label="posterior median")
    a1.plot(d.day[~d.censored], d.value[~d.censored], "ko", label="counts")
    a1.plot(d.day[d.censored], d.value[d.censored], "kv", mfc="none", label="below LLOQ")
    a1.set(yscale="log", xlabel="days after infusion", ylabel="CAR T cells / µL", title="kinetics")
    a1.legend(fontsize=8)
    a2.hist(p_cure, bins=30, color="C2")
    a2.set(xlabel=f"P(cure by day {spec.base.get('cohort', {}).get('follow_up_days', 730)})", ylabel="draws",
           title="posterior predictive P(cure)")
    fig.tight_layout()
    fig.savefig(out_dir / "prediction.png", dpi=110)
    plt.close(fig)
