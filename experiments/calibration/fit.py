"""``cartsim fit``: maximum-likelihood calibration of a population (summary kinetics and/or a PFS curve) or of
individual patients (per-patient kinetics), with profile intervals, an identifiability report, a calibrated
cohort config and, for PFS, a full hybrid Monte Carlo confirmation."""

from __future__ import annotations

import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

import hybrid
from experiments.calibration import optimiser, report
from experiments.calibration.kinetics import SummaryFit, patient_nll
from experiments.calibration.km import ExactPFS, goodness_of_fit, intervals
from experiments.calibration.km import nll as km_nll
from experiments.calibration.population import (
    NONRESPONSE,
    Proposal,
    effector_at,
    ess,
    hyper_values,
    lognormals,
    parameters_of,
    progression_free_at,
    simulate_exact,
    truncation,
)
from experiments.calibration.response import ResponseFit, exposures, response_probabilities
from experiments.calibration.spec import FitSpec
from experiments.cohort.distributions import Distribution
from experiments.cohort.exposure import EXPOSURE_GRID
from experiments.cohort.nonresponse import NonResponse, describe
from experiments.cohort.sampling import sample_patients
from experiments.cohort.spec import revise
from experiments.execution import Backend
from experiments.outputs import Notes, owned_run, write_json
from experiments.paths import CONFIGS
from experiments.provenance import start
from experiments.trial_data import PatientKinetics, SummaryKinetics
from hybrid import effector_per_ul
from hybrid.errors import CartsimError
from hybrid.rng import derived_seed

MAX_ROUNDS = 4
AT_BOUND = 0.01
"""A hyperparameter estimate within this share of its range (optimiser coordinates) of a bound is at it."""
EDGE_CUT = 0.05
"""A plausible range that cuts more than this share of a fitted lognormal says the fit leans on its edge."""
ROUND_TAG = 0x524F_554E  # "ROUN": the entropy tag of each round's virtual patients
STARTS_TAG = 0x5354_5254  # "STRT": the entropy tag of the optimiser's random starts
FIGURE_PATIENTS = 5000
"""Virtual patients of the calibrated cohort drawn in population.png."""
LOW_ESS = 50.0
"""Below this many effective patients an evaluation is refused (large penalty): too few to trust."""


def _log(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"cartsim fit: {msg}", file=sys.stderr, flush=True)


def _proposal_free(spec: FitSpec, free: dict[str, dict[str, float]], first: bool) -> dict[str, dict[str, float]]:
    """Proposal hyperparameters: broad over the bounds in the first round, then around the estimate."""
    out: dict[str, dict[str, float]] = {}
    for p, hv in parameters_of(free).items():
        med = [h for h in spec.hypers if h.param == p and h.which == "median"]
        sig = [h for h in spec.hypers if h.param == p and h.which == "sigma"]
        if first:
            m = float(np.sqrt(med[0].lo * med[0].hi)) if med else hv["median"]
            s_hi = sig[0].hi if sig else hv["sigma"]
            spread = np.log(med[0].hi / med[0].lo) / 4 if med else 0.0
            out[p] = {"median": m, "sigma": float(np.hypot(s_hi, spread))}
        else:
            out[p] = {"median": hv["median"], "sigma": float(1.3 * hv["sigma"] + 0.02)}
    if NONRESPONSE in free:
        out[NONRESPONSE] = _proposal_shares(spec, free[NONRESPONSE], first)
    return out


def _proposal_shares(spec: FitSpec, shares: dict[str, float], first: bool) -> dict[str, float]:
    """Each fitted class's proposal share: the middle of its bounds first, then a little above the estimate,
    so that every share up to the bound keeps patients to reweight; fixed shares as given."""
    out = {}
    for c, v in shares.items():
        if c in spec.share_bounds:
            lo, hi = spec.share_bounds[c]
            out[c] = 0.5 * (lo + hi) if first else float(np.clip(1.2 * v + 0.05, 0.05, max(hi, 0.05)))
        else:
            out[c] = v
    total = sum(out.values())
    if total > 0.9:  # keep a share of patients in no class
        out = {c: 0.9 * v / total for c, v in out.items()}
    return out


class _Objective:
    """-log L of the population hyperparameters (optimiser coordinates) over one proposal population: the sum
    of the data's terms (PFS intervals, summary kinetics, response counts and exposure fact)."""

    def __init__(self, proposal, fixed, hypers, km_obj, km_data, kin_obj, resp_obj):
        self.proposal, self.fixed, self.hypers = proposal, {p: dict(v) for p, v in fixed.items()}, hypers
        self.km_obj, self.km_data, self.kin_obj, self.resp_obj = km_obj, km_data, kin_obj, resp_obj

    def evaluate(self, x: np.ndarray) -> tuple[float, float, np.ndarray | None]:
        """(-log L, effective sample size, fitted PFS curve or None)."""
        lw = self.proposal.log_weights(hyper_values(self.fixed, self.hypers, x))
        w = np.exp(lw)
        total, curve = 0.0, None
        if self.km_obj is not None:
            curve = self.km_obj.curve(w)
            total += km_nll(curve, self.km_data)
        if self.kin_obj is not None:
            total += self.kin_obj.nll(w)
        if self.resp_obj is not None:
            total += self.resp_obj.nll(w)
        return total, ess(lw), curve

    def nll(self, x: np.ndarray) -> float:
        f, e, _ = self.evaluate(x)
        return f + (1e6 * (LOW_ESS - e) if e < LOW_ESS else 0.0)


def edge(hyperparameters: dict[str, dict[str, Any]], trunc: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Whether the data are matched only at the edge of the population: a hyperparameter estimated at a bound of
    its search range, or a plausible range that cuts more than :data:`EDGE_CUT` of a fitted lognormal; with one
    line saying which."""
    why = [f"{name} at its {h['estimate_at_bound']} bound ({h['estimate']:.3g})"
           for name, h in hyperparameters.items() if h.get("estimate_at_bound")]
    why += [f"the plausible range {t['plausible'][0]:g}-{t['plausible'][1]:g} of {p} ({t['source']}) cuts "
            f"{100 * t['share_cut']:.0f}% of its fitted lognormal" for p, t in trunc.items()
            if t["plausible"] and t["share_cut"] > EDGE_CUT]
    line = ("matched only at the edge of the population: " + "; ".join(why)) if why else \
        "matched inside the population: no hyperparameter at a bound, no plausible range cutting much"
    return {"at_edge": bool(why), "why": why, "line": line}


def fit_population(spec: FitSpec, quiet: bool = True, workers: int | None = None) -> dict[str, Any]:
    """Fit the population hyperparameters to summary kinetics, a KM curve and response rates by importance
    reweighting; the virtual patients are simulated on ``workers`` processes. With fitted non-response shares
    (and ``spec.compare``), each candidate structure (:func:`structures`) is fitted on the
    same data and compared by AIC and BIC; the result is the preferred structure's (lowest BIC), with the
    comparison under ``model_comparison``."""
    with Backend(workers, threads=True) as backend:  # the exact kernels release the GIL
        candidates = structures(spec)
        if len(candidates) == 1:
            return _fit_population(candidates[0][1], quiet, backend)
        fits = {}
        for name, cand in candidates:
            _log(f"structure {name!r}", quiet)
            fits[name] = _fit_population(cand, quiet, backend)
        comparison = compare(fits, spec.n_observed)
        out = fits[comparison["preferred"]]
        out["model_comparison"] = comparison
        _log(comparison["line"], quiet)
        return out


def structures(spec: FitSpec) -> list[tuple[str, FitSpec]]:
    """Candidate population structures: the spec as given when no share is fitted (or no comparison asked);
    otherwise "none" (no fitted class), each fitted class alone (the other fitted shares at 0) and, with
    several, all of them together."""
    from dataclasses import replace

    fitted = list(spec.share_bounds)
    if not fitted or not spec.compare:
        return [("as configured", spec)]
    out = []
    sets = [(), *((c,) for c in fitted), *((tuple(fitted),) if len(fitted) > 1 else ())]
    for keep in sets:
        shares = {c: (v if c in keep or c not in fitted else 0.0) for c, v in spec.free[NONRESPONSE].items()}
        hypers = [h for h in spec.hypers if not h.is_share or h.which in keep]
        bounds = {c: b for c, b in spec.share_bounds.items() if c in keep}
        free = {**spec.free, NONRESPONSE: shares}
        if not any(v > 0 for v in shares.values()) and not bounds:
            free = parameters_of(free)
        out.append((" + ".join(keep) or "none", replace(spec, hypers=hypers, share_bounds=bounds, free=free)))
    return out


def compare(fits: dict[str, dict[str, Any]], n_observed: int | None) -> dict[str, Any]:
    """AIC = 2k + 2 nll and BIC = k ln(n) + 2 nll of each candidate (k fitted hyperparameters, n the trial's
    patients), the preferred one (lowest BIC; AIC where n is unknown) and one line saying so."""
    rows = []
    for name, f in fits.items():
        k = len(f["hyperparameters"])
        row = {"structure": name, "nll": f["nll"], "k": k, "aic": 2 * k + 2 * f["nll"],
               "bic": (k * np.log(n_observed) + 2 * f["nll"]) if n_observed else None,
               "shares": f["population"].get(NONRESPONSE, {})}
        rows.append(row)
    crit = "bic" if n_observed else "aic"
    best = min(rows, key=lambda r: r[crit])
    for r in rows:
        r[f"delta_{crit}"] = r[crit] - best[crit]
    others = sorted((r for r in rows if r is not best), key=lambda r: r[crit])
    gap = f" (next: {others[0]['structure']}, {crit.upper()} +{others[0][crit] - best[crit]:.1f})" if others else ""
    return {"candidates": rows, "criterion": crit.upper(), "preferred": best["structure"], "n": n_observed,
            "note": "likelihoods estimated by importance reweighting of the same virtual patients",
            "line": f"model comparison: {best['structure']!r} preferred by {crit.upper()}{gap}"}


def _readers(spec: FitSpec, km_data) -> dict[str, Any]:
    """What each virtual patient is simulated for: the PFS curve's days, the kinetics' days, response at the
    landmark and exposure on days 0-28."""
    out: dict[str, Any] = {}
    if km_data is not None:
        out["pfs"] = progression_free_at(km_data.days)
    days = [spec.kinetics.day] if isinstance(spec.kinetics, SummaryKinetics) else []
    if spec.exposure is not None:
        days.append(EXPOSURE_GRID)
    if days:  # one mean-field solve for the kinetics' days and the exposure grid
        out["counts"] = effector_at(np.unique(np.concatenate(days)))
    if spec.response is not None:
        out["response"] = partial(response_probabilities, spec.response)
    return out


def _counts_at(sims: dict[str, np.ndarray], grid: np.ndarray, days: np.ndarray) -> np.ndarray:
    """The columns of the mean-field counts (on ``grid``, the union of the days asked for) at ``days``."""
    return sims["counts"][:, np.searchsorted(grid, days)]


def _fit_population(spec: FitSpec, quiet: bool, backend: Backend) -> dict[str, Any]:
    hypers = spec.hypers
    bounds = [h.x_bounds for h in hypers]
    free = {p: dict(v) for p, v in spec.free.items()}
    x0 = np.array([hypers[i].to_x(free[h.param][h.which]) for i, h in enumerate(hypers)])
    km_data = intervals(spec.km, spec.n_patients) if spec.km is not None else None
    readers = _readers(spec, km_data)
    rounds = []
    for r in range(MAX_ROUNDS):
        pf = _proposal_free(spec, free, first=(r == 0))
        t0 = time.perf_counter()
        # each round its own virtual patients: the cohort's streams under a seed derived for the round
        prop = Proposal.sample(spec.population, pf, spec.virtual_patients,
                               derived_seed((spec.population.seed, ROUND_TAG), r), spec.nonresponse)
        sims = simulate_exact(prop, readers, backend)
        km_obj = ExactPFS(prop, sims["pfs"]) if km_data is not None else None
        kin_obj = None
        grid = readers["counts"].args[0] if "counts" in readers else None
        if isinstance(spec.kinetics, SummaryKinetics):
            n_day = spec.kinetics.n if spec.kinetics.n is not None else np.full(len(spec.kinetics.day),
                                                                                   float(spec.n_patients))
            kin_obj = SummaryFit(prop, spec.kinetics, n_day, _counts_at(sims, grid, spec.kinetics.day))
        resp_obj = None
        if spec.response is not None:
            expo = exposures(_counts_at(sims, grid, EXPOSURE_GRID)) if spec.exposure is not None else None
            resp_obj = ResponseFit(prop, spec.response, sims["response"], spec.exposure, expo)
        _log(f"round {r + 1}: {spec.virtual_patients} virtual patients simulated on the exact path in "
             f"{time.perf_counter() - t0:.1f} s", quiet)

        obj = _Objective(prop, free, hypers, km_obj, km_data, kin_obj, resp_obj)
        evaluate, nll = obj.evaluate, obj.nll
        best = optimiser.multistart(nll, bounds, spec.starts, derived_seed((spec.seed, STARTS_TAG), r), x0)
        free = hyper_values(free, hypers, best.x)
        x0 = best.x
        _, e, _ = evaluate(best.x)
        rounds.append({"round": r + 1, "proposal": pf, "nll": best.nll, "ess": e, "estimate": free})
        _log(f"round {r + 1}: -log L {best.nll:.3f}, effective sample size {e:,.0f}", quiet)
        if e >= spec.min_ess:
            break
    intervals_ = {}
    for i, h in enumerate(hypers):
        lo, hi, lo_b, hi_b, prof = optimiser.profile(nll, best, bounds, i)
        intervals_[h.name] = {"estimate": h.from_x(best.x[i]), "low": h.from_x(lo), "high": h.from_x(hi),
                              "low_at_bound": lo_b, "high_at_bound": hi_b,
                              "profile": [(h.from_x(v), f - best.nll) for v, f in prof]}
    corr = optimiser.correlations(nll, best.x, bounds)
    for i, h in enumerate(hypers):
        lo_x, hi_x = bounds[i]
        tol = AT_BOUND * (hi_x - lo_x)
        # a share may sit at 0 because the class is not needed: that is an answer, not an edge
        at_lo = best.x[i] - lo_x <= tol and not (h.is_share and lo_x == 0.0)
        intervals_[h.name]["estimate_at_bound"] = ("low" if at_lo else
                                                   "high" if hi_x - best.x[i] <= tol else None)
    trunc = truncation(free, spec.model)
    out: dict[str, Any] = {
        "mode": "population", "hyperparameters": intervals_, "population": free, "nll": best.nll,
        "population_truncation": trunc, "edge": edge(intervals_, trunc),
        "identifiability": optimiser.identifiability([h.name for h in hypers], corr, intervals_),
        "diagnostics": {"rounds": rounds, "starts": best.starts, "effective_sample_size": rounds[-1]["ess"],
                        "virtual_patients_per_evaluation": spec.virtual_patients,
                        "method": "importance-reweighted common random numbers on the exact path"},
    }
    if spec.nonresponse is not None:
        out["nonresponse"] = describe(spec.nonresponse.with_shares(free.get(NONRESPONSE, {})))
    _, _, curve = evaluate(best.x)
    if curve is not None:
        out["pfs"] = {"days": km_data.days.tolist(), "observed": km_data.observed.tolist(),
                      "fitted": curve.tolist(), **goodness_of_fit(curve, km_data, len(hypers))}
        if spec.km.n_at_risk is None:
            out["pfs"]["note"] = "no n_at_risk: events reconstructed assuming no censoring before each point"
    w = np.exp(prop.log_weights(free))
    if kin_obj is not None:
        q = np.exp(kin_obj.quantiles(w))
        out["kinetics"] = {"days": spec.kinetics.day.tolist(), "fitted_q25_median_q75": q.tolist(),
                           "observed_q25_median_q75": np.exp(kin_obj.observed).tolist()}
    if resp_obj is not None:
        rr = spec.response
        out["response"] = {"day": rr.day, "n": rr.n, "detection_cells": rr.detection_cells,
                           "observed": {"overall": rr.overall, "complete": rr.complete},
                           "fitted": resp_obj.fitted(w)}
        if spec.exposure is not None:
            ef = spec.exposure
            out["response"]["exposure_response"] = {
                "measure": ef.measure, "observed": ef.ratio, "ci": [ef.low, ef.high],
                "fitted": out["response"]["fitted"].pop("exposure_ratio"),
                "definition": "ratio of geometric means, responders / non-responders at the landmark"}
    return out


def fit_individuals(spec: FitSpec, quiet: bool = True) -> dict[str, Any]:
    """Maximum likelihood per patient (free parameters and the log-count error sd), profile intervals, and the
    population median and spread of the estimates (a standard two-stage analysis)."""
    names = list(spec.individual)
    data: PatientKinetics = spec.kinetics
    mspec = hybrid.get_model(spec.model)
    base_vals = dict(spec.population.base)
    bounds = [(np.log(lo), np.log(hi)) for lo, hi in spec.individual.values()]
    known_sigma = not isinstance(spec.error_sigma, tuple)
    if not known_sigma:
        bounds.append((np.log(spec.error_sigma[0]), np.log(spec.error_sigma[1])))
    labels = [*names] if known_sigma else [*names, "error_sigma"]
    patients = {}
    for pid in data.patients:
        d = data.of(pid)

        def nll(x: np.ndarray, d=d) -> float:
            vals = dict(zip(names, np.exp(x[:len(names)]), strict=True))
            try:
                p = hybrid.Parameters(mspec, **{**base_vals, **vals})
            except hybrid.CartsimError:
                return 1e12
            mu = effector_per_ul(p, d.day)[0]
            sigma = float(spec.error_sigma) if known_sigma else float(np.exp(x[-1]))
            return patient_nll(np.log(np.maximum(mu, 1e-300)), d, sigma)

        best = optimiser.multistart(nll, bounds, spec.starts, derived_seed((spec.seed, STARTS_TAG)))
        ints = {}
        for i, lab in enumerate(labels):
            lo, hi, lo_b, hi_b, prof = optimiser.profile(nll, best, bounds, i)
            ints[lab] = {"estimate": float(np.exp(best.x[i])), "low": float(np.exp(lo)), "high": float(np.exp(hi)),
                         "low_at_bound": lo_b, "high_at_bound": hi_b,
                         "profile": [(float(np.exp(v)), f - best.nll) for v, f in prof]}
        corr = optimiser.correlations(nll, best.x, bounds)
        patients[pid] = {"estimates": ints, "nll": best.nll, "starts": best.starts,
                         "identifiability": optimiser.identifiability(labels, corr, ints)}
        _log(f"patient {pid}: -log L {best.nll:.3f}", quiet)
    est = np.array([[patients[p]["estimates"][n]["estimate"] for n in names] for p in patients])
    pop = {}
    for j, n in enumerate(names):
        logs = np.log(est[:, j])
        pop[n] = {"median": float(np.exp(np.median(logs))),
                  "sigma": float(np.std(logs, ddof=1)) if len(logs) > 1 else 0.0}
    trunc = truncation({n: v for n, v in pop.items() if v["sigma"] > 0}, spec.model)
    return {"mode": "individual", "patients": patients, "population": pop,
            "population_method": "two-stage: median and sd of the individual log estimates",
            "population_truncation": trunc, "edge": edge({}, trunc)}


def run_fit(spec: FitSpec, out: Path, *, quiet: bool = True, workers: int | None = None, overwrite: bool = False,
            notes: Notes | None = None) -> dict[str, Any]:
    """Run the fit described by ``spec`` into the output directory ``out``, which the run owns
    (:func:`experiments.outputs.owned_out_dir`): fit.json, calibrated.toml, provenance.json and figures; virtual
    patients are simulated on ``workers`` processes. Returns fit.json's content."""
    with owned_run(out, "cartsim fit", overwrite=overwrite, notes=notes):
        return _run_fit(spec, Path(out), quiet, workers)


def _run_fit(spec: FitSpec, out_dir: Path, quiet: bool, workers: int | None) -> dict[str, Any]:
    from experiments.figures.calibration import fit_figures

    prov = start("experiments.calibration.run_fit", spec.config, fit=spec.seed, cohort=spec.population.seed)
    t0 = time.perf_counter()
    if isinstance(spec.kinetics, PatientKinetics):
        result = fit_individuals(spec, quiet)
        spread = {n: v for n, v in result["population"].items() if v["sigma"] > 0}
        # one patient (or identical estimates): the parameter is fixed at the estimate
        dists = {**lognormals(spread, spec.model), **{n: Distribution("fixed", (v["median"],))
                                          for n, v in result["population"].items() if v["sigma"] == 0}}
    else:
        result = fit_population(spec, quiet, workers)
        dists = lognormals(result["population"], spec.model)
    result["seconds"] = time.perf_counter() - t0
    shares = {c: v for c, v in result["population"].get(NONRESPONSE, {}).items() if v > 0}
    nonresp = NonResponse(shares, spec.nonresponse.factors) if shares else None
    calibrated = revise(spec.population, dists=dists, nonresponse=nonresp)
    config = {"title": f"Calibrated by cartsim fit: {spec.title}".strip(),
              **{k: v for k, v in calibrated.config.items() if k != "title"}}
    report.write_toml(out_dir / "calibrated.toml", config,
                      f"written by cartsim fit from {Path(spec.source).name}; run it with cartsim run")
    result.update(title=spec.title, config=str(spec.source))
    _log(result["edge"]["line"], quiet)
    if spec.km is not None and spec.confirm:
        result["confirmation"] = report.confirm_pfs(calibrated, out_dir / "confirmation", spec.km, workers)
        _log(f"Monte Carlo confirmation: largest distance to the observed curve "
             f"{result['confirmation']['max_vertical_distance']:.3f}", quiet)
    fit_figures(spec, result, out_dir, sample_patients(calibrated, 0, min(calibrated.n, FIGURE_PATIENTS)))
    prov.stamp(result, out_dir)
    write_json(out_dir / "fit.json", result)
    return result


def fit_csv(csv: str | Path, out_dir: Path, workers: int | None = None) -> dict[str, Any]:
    """Fit a data file as the shipped configs do: a kinetics CSV (per patient or summary) with
    ``fit_kinetics.toml``'s free parameters, a Kaplan–Meier CSV with ``calibrate_pfs.toml``'s (and no Monte Carlo
    confirmation, to stay quick). The kind is recognised from the columns; writes into ``out_dir``."""
    from experiments.calibration.spec import validate_fit
    from experiments.cohort.spec import load_toml
    from experiments.trial_data import PatientKinetics, load_kinetics, load_km

    csv = Path(csv).resolve()
    per_patient = False
    try:
        per_patient = isinstance(load_kinetics(csv), PatientKinetics)
        name, key = "fit_kinetics.toml", "kinetics_csv"
    except CartsimError as kin_error:
        try:
            load_km(csv)
        except CartsimError as km_error:
            raise CartsimError(f"{csv.name}: neither kinetics ({kin_error}) nor a Kaplan–Meier curve ({km_error})"
                               ) from None
        name, key = "calibrate_pfs.toml", "pfs_csv"
    cfg = load_toml(CONFIGS / name)
    cfg["data"] = {key: str(csv)}
    if per_patient:  # each patient's own values, within the range the population's median may take
        cfg["free"] = {n: {"bounds": t["median"]} for n, t in cfg["free"].items() if isinstance(t["median"], list)}
    if key == "pfs_csv":
        cfg.setdefault("fit", {})["confirm"] = False
    return run_fit(validate_fit(cfg, str(CONFIGS / name)), out_dir, workers=workers, notes=lambda _msg: None)
