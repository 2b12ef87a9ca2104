"""Figures of dosing: dose-response and dose-toxicity curves per tumour burden, the nomogram (P(cure) over dose x
burden with the severe-CRS limit as a contour and the therapeutic window outlined), schedules at equal total
dose, and one patient's dose curve (cartsim dose)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.figures import pyplot, save

MAX_CURVES = 6


def _burdens_shown(values: np.ndarray) -> np.ndarray:
    if len(values) <= MAX_CURVES:
        return values
    return values[np.unique(np.linspace(0, len(values) - 1, MAX_CURVES).round().astype(int))]


def dosing_figures(spec, table: pd.DataFrame, out: Path) -> list[Path]:
    """dose_response.png, dose_toxicity.png, nomogram.png and schedules.png of a dosing grid."""
    plt = pyplot()
    written = []
    scheds = [s.name for s in spec.schedules]
    du, bu = spec.dose_unit, spec.burden_unit
    shown = _burdens_shown(np.sort(table["burden"].unique()))
    rule = spec.rule
    for name, col, ylabel, line in (("dose_response.png", "p_cure", "P(cure)", rule.efficacy_target),
                                    ("dose_toxicity.png", "severe_crs",
                                     f"P(severe CRS proxy, grade ≥ {rule.severe_grade})", rule.toxicity_limit)):
        if col == "severe_crs" and not np.isfinite(table[col]).any():
            continue
        fig, axes = plt.subplots(1, len(scheds), figsize=(4.2 * len(scheds), 3.6), squeeze=False, sharey=True)
        for ax, s in zip(axes[0], scheds, strict=True):
            t = table[table["schedule"] == s]
            for k, b in enumerate(shown):
                g = t[np.isclose(t["burden"], b)].sort_values("dose")
                ax.plot(g["dose"], g[col], "-o", ms=3, color=f"C{k}", label=f"{b:.3g} {bu}")
                if col == "p_cure":
                    ax.fill_between(g["dose"], g[col] - 2 * g["p_cure_se"], g[col] + 2 * g["p_cure_se"],
                                    color=f"C{k}", alpha=0.15, lw=0)
                else:
                    ax.fill_between(g["dose"], g["severe_crs_low"], g["severe_crs_high"], color=f"C{k}",
                                    alpha=0.15, lw=0)
            ax.axhline(line, color="k", ls=":", lw=0.8)
            ax.set(xscale="log", xlabel=f"dose ({du})", title=s, ylim=(-0.02, 1.02))
        axes[0, 0].set_ylabel(ylabel)
        axes[0, -1].legend(title="tumour burden", fontsize=7, title_fontsize=7)
        written.append(save(fig, out / name))
    written.append(_nomogram(spec, table, out / "nomogram.png"))
    written.append(_schedules(spec, table, out / "schedules.png"))
    return written


def _nomogram(spec, table: pd.DataFrame, path: Path) -> Path:
    plt = pyplot()
    scheds = [s.name for s in spec.schedules]
    rule = spec.rule
    fig, axes = plt.subplots(1, len(scheds), figsize=(4.6 * len(scheds), 4.0), squeeze=False, sharey=True)
    im = None
    for ax, s in zip(axes[0], scheds, strict=True):
        t = table[table["schedule"] == s]
        piv = t.pivot_table(index="burden", columns="dose", values="p_cure")
        d, b = piv.columns.to_numpy(float), piv.index.to_numpy(float)
        im = ax.pcolormesh(d, b, piv.to_numpy(), shading="nearest", cmap="viridis", vmin=0, vmax=1)
        if len(d) > 1 and len(b) > 1:
            sev = t.pivot_table(index="burden", columns="dose", values="severe_crs").to_numpy()
            if np.isfinite(sev).all():
                cs = ax.contour(d, b, sev, levels=[rule.toxicity_limit], colors="red", linewidths=1.5)
                ax.clabel(cs, fmt=lambda _v: f"severe CRS {100 * rule.toxicity_limit:g}%", fontsize=7)
            win = t.pivot_table(index="burden", columns="dose", values="in_window").to_numpy(float)
            ax.contourf(d, b, win, levels=[0.5, 1.5], colors="none", hatches=["//"])
            ax.contour(d, b, win, levels=[0.5], colors="white", linewidths=1.0)
            ax.contour(d, b, piv.to_numpy(), levels=[rule.efficacy_target], colors="white", linestyles="--",
                       linewidths=0.8)
        ax.set(xscale="log", yscale="log", xlabel=f"dose ({spec.dose_unit})", title=s)
    axes[0, 0].set_ylabel(f"tumour burden ({spec.burden_unit})")
    fig.colorbar(im, ax=axes[0, -1], label="P(cure)")
    fig.suptitle(f"hatched: therapeutic window (P(cure) ≥ {rule.efficacy_target:g}, severe CRS ≤ "
                 f"{rule.toxicity_limit:g}); dashed: P(cure) = {rule.efficacy_target:g}; red: the toxicity limit",
                 fontsize=8)
    return save(fig, path)


def _schedules(spec, table: pd.DataFrame, path: Path) -> Path:
    plt = pyplot()
    mid = float(np.sort(table["burden"].unique())[len(table["burden"].unique()) // 2])
    t = table[np.isclose(table["burden"], mid)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.6))
    for k, s in enumerate(spec.schedules):
        g = t[t["schedule"] == s.name].sort_values("dose")
        a1.errorbar(g["dose"], g["p_cure"], yerr=2 * g["p_cure_se"], fmt="-o", ms=3, color=f"C{k}", label=s.name)
        if np.isfinite(g["severe_crs"]).any():
            a2.plot(g["dose"], g["severe_crs"], "-o", ms=3, color=f"C{k}", label=s.name)
    a1.set(xscale="log", xlabel=f"total dose ({spec.dose_unit})", ylabel="P(cure)", ylim=(-0.02, 1.02),
           title=f"schedules at equal total dose, burden {mid:.3g} {spec.burden_unit}")
    a2.set(xscale="log", xlabel=f"total dose ({spec.dose_unit})", ylabel="P(severe CRS proxy)", ylim=(-0.02, 1.02))
    a1.legend(fontsize=7)
    return save(fig, path)


def dose_figure(result: dict[str, Any], unit: str, path: Path) -> Path:
    """One patient's P(cure) and P(severe CRS) against dose per schedule, the limit and the chosen dose."""
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    for k, (name, s) in enumerate(result["schedules"].items()):
        c = s["curve"]
        d = np.array(c["dose"])
        a1.plot(d, c["p_cure"], "-o", ms=3, color=f"C{k}", label=name)
        a1.fill_between(d, c["p_cure_q05"], c["p_cure_q95"], color=f"C{k}", alpha=0.12, lw=0)
        a2.plot(d, c["p_severe"], "-o", ms=3, color=f"C{k}", label=name)
        if s["dose"] is not None:
            for ax in (a1, a2):
                ax.axvline(s["dose"], color=f"C{k}", ls="--", lw=0.8)
    a2.axhline(result["rule"]["toxicity_limit"], color="red", ls=":", lw=1, label="toxicity limit")
    a1.set(xscale="log", xlabel=f"dose ({unit})", ylabel="P(cure) (band: 5-95% over draws)", ylim=(-0.02, 1.02))
    a2.set(xscale="log", xlabel=f"dose ({unit})", ylabel="P(severe CRS proxy)", ylim=(-0.02, 1.02))
    a1.legend(fontsize=7)
    a2.legend(fontsize=7)
    fig.suptitle(result["answer"][:140], fontsize=8)
    return save(fig, path)
