"""Figures of replicated ABM experiments: elimination probability per arm, and time courses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.figures import pyplot, save

__all__ = ["plot_elimination", "plot_timecourse", "save_snapshot"]


def plot_elimination(summary: dict[str, Any], path: Path) -> str:
    """P(eliminated) and P(all antigen-positive cells cleared) per arm, Wilson 95% intervals."""
    plt = pyplot()
    labels = summary["arms"]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(labels), 3.8), dpi=110)
    for off, key, name, colour in ((-0.12, "p_eliminated", "tumour eliminated", "#b22222"),
                                   (0.12, "p_positive_cleared", "antigen-positive cells cleared", "#466ea0")):
        p = np.array([summary["per_arm"][lab][key] for lab in labels])
        ci = np.array([summary["per_arm"][lab][key + "_ci95"] for lab in labels], dtype=float)
        yerr = np.clip([p - ci[:, 0], ci[:, 1] - p], 0, None)
        ax.errorbar(x + off, p, yerr=yerr, fmt="o", capsize=4, color=colour, label=name)
    ax.set_xticks(x, labels)
    ax.set_xlabel(summary["sweep_parameter"] or "")
    ax.set_ylabel("probability (Wilson 95% CI)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title(f"{summary['scenario']}: {summary['replicates']} replicates per arm, "
                 f"{summary['width']}×{summary['height']} sites", fontsize=9)
    ax.legend(fontsize=8, loc="best")
    return save(fig, path).name


def plot_timecourse(series: pd.DataFrame, labels: list[str], spec, path: Path) -> str:
    """Median and interquartile band per arm: tumour cells, antigen-negative cells, CAR T cells in the tumour,
    infiltration depth."""
    plt = pyplot()
    panels = [("tumour_cells", "tumour cells"), ("antigen_negative", "antigen-negative cells"),
              ("car_t_in_tumour", "CAR T cells in tumour footprint"), ("infiltration_depth_um",
                                                                        "infiltration depth (µm)")]
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 6.4), dpi=110, sharex=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    grid_h = np.arange(0, spec.steps * spec.arms[0][1]["step_hours"] + 1e-9, spec.series_every_hours)
    for i, lab in enumerate(labels):
        sub = series[series["arm"] == lab]
        for ax, (col, name) in zip(axes.flat, panels, strict=True):
            # Runs stop once decided: carry their last value forward so every replicate counts at every time.
            mat = np.vstack([np.interp(grid_h, g["time_hours"], g[col], right=g[col].iloc[-1])
                             for _, g in sub.groupby("replicate")])
            q = np.quantile(mat, [0.25, 0.5, 0.75], axis=0)
            c = colours[i % len(colours)]
            ax.fill_between(grid_h / 24, q[0], q[2], color=c, alpha=0.2, lw=0)
            ax.plot(grid_h / 24, q[1], color=c, label=lab)
            ax.set_ylabel(name)
    for ax in axes[1]:
        ax.set_xlabel("time (days)")
    axes[0, 0].legend(title=spec.sweep_parameter or None, fontsize=8)
    fig.suptitle(f"{spec.scenario}: median and IQR over {spec.replicates} replicates", fontsize=10)
    return save(fig, path).name


def save_snapshot(path: Path, tumour_class: np.ndarray, car_t: np.ndarray, vessel: np.ndarray | None,
                  title: str, site_um: float) -> None:
    """One PNG of the grid (:func:`abm.render.frame_rgb`) with a legend and a scale in mm."""
    from matplotlib.patches import Patch

    from abm.render import COLOURS, frame_rgb

    plt = pyplot()
    img = frame_rgb(tumour_class, car_t, vessel)
    w, h = tumour_class.shape
    fig, ax = plt.subplots(figsize=(7.6, 5.6), dpi=110)
    ax.imshow(img, extent=(0, w * site_um / 1000, 0, h * site_um / 1000), interpolation="nearest")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_title(title, fontsize=10)
    labels = [("high", "antigen-high"), ("low", "antigen-low"), ("negative", "antigen-negative"),
              ("vessel", "vessel"), ("car_t_active", "CAR T active"), ("car_t_exhausted", "CAR T exhausted")]
    handles = [Patch(color=np.array(COLOURS[k]) / 255, label=lab) for k, lab in labels]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
    save(fig, path)
