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
from experiments.calibration.kinetics import patient_nll
from experiments.calibration.spec import PredictSpec
from experiments.outputs import Notes, atomic_path, owned_run, write_json
from experiments.provenance import start
from hybrid import effector_per_ul
from hybrid.rng import derived_seed, generator

PREDICT_TAG = 0x5052_4544  # "PRED": the entropy tag of the sampler's start and moves


def log_posterior_factory(spec: PredictSpec):
    mspec = hybrid.get_model(spec.model)
    names = list(spec.prior)
    mu = np.log([spec.prior[n]["median"] for n in names])
    sd = np.array([spec.prior[n]["sigma"] for n in names])
    base = dict(spec.population.base)
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


def run_predict(spec: PredictSpec, out: Path, *, quiet: bool = True, overwrite: bool = False,
                notes: Notes | None = None) -> dict[str, Any]:
    """Sample one patient's posterior into the output directory ``out``, which the run owns: samples.parquet,
    prediction.json, provenance.json and figures. Returns prediction.json's content."""
    with owned_run(out, "cartsim predict", overwrite=overwrite, notes=notes):
        return _run_predict(spec, Path(out), quiet)


def _run_predict(spec: PredictSpec, out_dir: Path, quiet: bool) -> dict[str, Any]:
    import emcee

    from experiments.figures.calibration import prediction_figures

    prov = start("experiments.calibration.run_predict", spec.config, sampler=spec.seed)
    names, mu, sd, base, log_post = log_posterior_factory(spec)
    rng = generator((spec.seed, PREDICT_TAG))
    p0 = mu + 0.1 * sd * rng.standard_normal((spec.walkers, len(names)))
    sampler = emcee.EnsembleSampler(spec.walkers, len(names), log_post)
    sampler.random_state = np.random.RandomState(derived_seed((spec.seed, PREDICT_TAG), 1)).get_state()  # moves
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
    t_end = spec.population.options.t_end
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
        "seconds": time.perf_counter() - t0,
    }
    samples = pd.DataFrame(np.exp(flat), columns=names)
    samples.insert(0, "walker", np.tile(np.arange(spec.walkers), chain.shape[0]))
    samples.insert(0, "step", np.repeat(np.arange(spec.burn, spec.steps), spec.walkers))
    with atomic_path(out_dir / "samples.parquet") as tmp:
        samples.to_parquet(tmp, index=False)
    prediction_figures(spec, names, flat, sampler.get_chain(), draws, base, p_cure, out_dir)
    prov.stamp(out, out_dir)
    write_json(out_dir / "prediction.json", out)
    return out
