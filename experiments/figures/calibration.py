"""Figures of calibration: observed against fitted kinetics and PFS (cartsim fit), and the posterior of one
patient (cartsim predict)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from experiments.figures import pyplot, save
from experiments.trial_data import PatientKinetics, SummaryKinetics
from hybrid.units import DAYS_PER_MONTH


def fit_figures(spec, result: dict[str, Any], out: Path, population=None) -> list[Path]:
    """kinetics.png (observed vs fitted), pfs.png (observed vs fitted KM, with the response rates) where the fit
    has them, and population.png (``population``: virtual patients of the calibrated cohort, against their
    parameters' plausible ranges)."""
    plt = pyplot()
    written = []
    if isinstance(spec.kinetics, SummaryKinetics) and "kinetics" in result:
        k = result["kinetics"]
        fig, ax = plt.subplots(figsize=(6, 4))
        d = np.array(k["days"])
        fq, oq = np.array(k["fitted_q25_median_q75"]), np.array(k["observed_q25_median_q75"])
        ax.fill_between(d, fq[:, 0], fq[:, 2], alpha=0.25, color="C0", label="fitted population IQR")
        ax.plot(d, fq[:, 1], "C0-o", label="fitted median")
        ax.errorbar(d, oq[:, 1], yerr=[oq[:, 1] - oq[:, 0], oq[:, 2] - oq[:, 1]], fmt="ks", capsize=4,
                    label="observed median (IQR)")
        ax.set(yscale="log", xlabel="days after infusion", ylabel="CAR T cells / µL")
        ax.legend(fontsize=8)
        written.append(save(fig, out / "kinetics.png"))
    if isinstance(spec.kinetics, PatientKinetics):
        written.append(_individual_figure(spec, result, out / "kinetics.png"))
    if "pfs" in result:
        p = result["pfs"]
        fig, ax = plt.subplots(figsize=(6, 4))
        months = np.array(p["days"]) / DAYS_PER_MONTH
        ax.step(np.r_[0, months], np.r_[1, p["observed"]], where="post", color="k", label="observed KM")
        ax.plot(np.r_[0, months], np.r_[1, p["fitted"]], "C0-o", ms=3, label="fitted (exact path)")
        if "confirmation" in result:
            conf = result["confirmation"]
            ax.plot(np.array(conf["days"]) / DAYS_PER_MONTH, conf["monte_carlo"], "C3--",
                    label="calibrated cohort (Monte Carlo)")
        ax.set(xlabel="months", ylabel="progression-free survival", ylim=(0, 1.02),
               title=f"max distance {p['max_vertical_distance']:.3f}")
        if "response" in result:
            ax.text(0.98, 0.97, _response_text(result["response"]), transform=ax.transAxes, ha="right", va="top",
                    fontsize=8, family="monospace", bbox={"facecolor": "white", "alpha": 0.85, "lw": 0.5})
        ax.legend(fontsize=8, loc="lower left")
        written.append(save(fig, out / "pfs.png"))
    if population is not None and result.get("mode") == "population":
        written.append(_population_figure(spec.model, population, result, out / "population.png"))
    return written


def _response_text(r: dict[str, Any]) -> str:
    lines = [f"response at day {r['day']:g} (n={r['n']})", "        observed  fitted"]
    for k, label in (("overall", "ORR"), ("complete", "CR")):
        if r["observed"].get(k) is not None:
            lines.append(f"{label:>7}  {r['observed'][k]:8.2f}  {r['fitted'][k]:6.2f}")
    er = r.get("exposure_response")
    if er:
        lines.append(f"{er['measure'].upper():>7}  {er['observed']:7.1f}x  {er['fitted']:5.1f}x")
    return "\n".join(lines)


def _population_figure(model: str, pats, result: dict[str, Any], path: Path) -> Path:
    """Histograms of the calibrated cohort's fitted parameters (log axis) with each plausible range shaded, and
    the shares of the non-response classes."""
    from hybrid.catalog import get_model

    plt = pyplot()
    mspec = get_model(model)
    params = [p for p in result["population_truncation"]]
    shares = result["population"].get("nonresponse", {})
    panels = max(len(params) + (1 if shares else 0), 1)
    cols = min(panels, 3)
    rows = -(-panels // cols)
    fig, grid = plt.subplots(rows, cols, figsize=(3.8 * cols, 3.2 * rows), squeeze=False)
    axes = grid.ravel()
    for ax in axes[panels:]:
        ax.set_visible(False)
    for ax, p in zip(axes, params, strict=False):
        ps = mspec.param_specs[p]
        x = pats[p].to_numpy(float)
        lo, hi = (ps.plausible if ps.plausible else (x.min(), x.max()))
        edges = np.geomspace(min(lo, x.min()) / 1.5, max(hi, x.max()) * 1.5, 40)
        ax.hist(x, bins=edges, color="C0", alpha=0.8)
        if ps.plausible:
            ax.axvspan(lo, hi, color="C2", alpha=0.12, label="plausible range")
            ax.axvline(lo, color="C2", lw=0.8)
            ax.axvline(hi, color="C2", lw=0.8)
        cut = result["population_truncation"][p]["share_cut"]
        ax.set(xscale="log", xlabel=f"{p} ({ps.unit})", ylabel="virtual patients",
               title=f"{p}: {100 * cut:.1f}% of the lognormal cut")
        ax.legend(fontsize=7)
    if shares:
        ax = axes[len(params)]
        names = list(shares)
        ax.bar(range(len(names)), [shares[n] for n in names], color="C3")
        ax.set_xticks(range(len(names)), [n.replace("_", " ") for n in names], fontsize=8)
        ax.set(ylim=(0, 1), ylabel="share of patients", title="non-response classes")
    fig.suptitle(result["edge"]["line"][:120], fontsize=8)
    return save(fig, path)


def _individual_figure(spec, result: dict[str, Any], path: Path) -> Path:
    import hybrid
    from hybrid import effector_per_ul

    plt = pyplot()
    mspec = hybrid.get_model(spec.model)
    base_vals = dict(spec.population.base)
    fig, ax = plt.subplots(figsize=(6, 4))
    data: PatientKinetics = spec.kinetics
    t = np.linspace(0.5, max(float(data.day.max()) * 1.1, 30.0), 200)
    for i, (pid, r) in enumerate(result["patients"].items()):
        vals = {n: v["estimate"] for n, v in r["estimates"].items() if n != "error_sigma"}
        curve = effector_per_ul(hybrid.Parameters(mspec, **{**base_vals, **vals}), t)[0]
        ax.plot(t, curve, color=f"C{i % 10}", label=str(pid) if i < 8 else None)
        d = data.of(pid)
        ax.plot(d.day[~d.censored], d.value[~d.censored], "o", color=f"C{i % 10}")
        ax.plot(d.day[d.censored], d.value[d.censored], "v", color=f"C{i % 10}", mfc="none")
    ax.set(yscale="log", xlabel="days after infusion", ylabel="CAR T cells / µL",
           title="per-patient fits (open triangles: below LLOQ)")
    ax.legend(fontsize=7)
    return save(fig, path)


def prediction_figures(spec, names, flat, chain, draws, base, p_cure, out_dir: Path) -> None:
    """corner.png (posterior), traces.png (chains) and prediction.png (kinetics band, predictive P(cure))."""
    import corner

    import hybrid
    from hybrid import effector_per_ul

    plt = pyplot()

    fig = corner.corner(np.exp(flat), labels=names, axes_scale="log", quantiles=[0.05, 0.5, 0.95])
    save(fig, out_dir / "corner.png")
    fig, axes = plt.subplots(len(names), 1, figsize=(7, 1.6 * len(names)), sharex=True, squeeze=False)
    for j, n in enumerate(names):
        axes[j, 0].plot(np.exp(chain[:, :, j]), lw=0.4, alpha=0.5)
        axes[j, 0].set(yscale="log", ylabel=n)
        axes[j, 0].axvline(spec.burn, color="k", ls="--", lw=0.8)
    axes[-1, 0].set_xlabel("step")
    save(fig, out_dir / "traces.png")
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
    a2.set(xlabel=f"P(cure by day {spec.population.options.t_end:g})", ylabel="draws",
           title="posterior predictive P(cure)")
    save(fig, out_dir / "prediction.png")
