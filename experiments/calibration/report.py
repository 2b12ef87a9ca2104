"""Outputs of calibration: the calibrated cohort config, the Monte Carlo confirmation and the figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from hybrid.units import DAYS_PER_MONTH

from ..store import atomic_path
from ..summary import kaplan_meier
from .data import KaplanMeier, PatientKinetics, SummaryKinetics


def write_toml(path: Path, cfg: dict[str, Any], comment: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(f"# {comment}\n" + tomli_w.dumps(cfg))


def confirm_pfs(config: Path, out: Path, km: KaplanMeier, workers: int | None) -> dict[str, Any]:
    """Run the calibrated config through the full hybrid Monte Carlo; its KM at the observed days."""
    import pandas as pd

    from ..cli_run import run_config

    run_config(config, ["output.figures=false"], out, workers=workers, quiet=True)
    df = pd.read_parquet(out / "patients.parquet", columns=["pfs_days", "pfs_event"])
    kmf = kaplan_meier(df["pfs_days"].to_numpy(), df["pfs_event"].to_numpy())
    mc = kmf.survival_function_at_times(km.days).to_numpy()
    return {"n": len(df), "days": km.days.tolist(), "monte_carlo": mc.tolist(), "observed": km.pfs.tolist(),
            "max_vertical_distance": float(np.max(np.abs(mc - km.pfs)))}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def fit_figures(spec, result: dict[str, Any], out: Path) -> list[Path]:
    """kinetics.png (observed vs fitted) and pfs.png (observed vs fitted KM) where the fit has them."""
    plt = _plt()
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
        written.append(_save(fig, out / "kinetics.png"))
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
        ax.legend(fontsize=8)
        written.append(_save(fig, out / "pfs.png"))
    return written


def _individual_figure(spec, result: dict[str, Any], path: Path) -> Path:
    import hybrid

    from .kinetics import effector_per_ul

    plt = _plt()
    from .population import fixed_values

    mspec = hybrid.get_model(spec.model)
    base_vals = fixed_values(spec.base, spec.model)
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
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    _plt().close(fig)
    return path


__all__ = ["confirm_pfs", "fit_figures", "write_toml"]
