"""Figures of cohort runs, sweeps and sensitivity analyses (matplotlib, Agg, PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.figures import pyplot, save
from experiments.paths import DATA
from experiments.statistics import kaplan_meier
from hybrid.catalog import get_model
from hybrid.units import DAYS_PER_MONTH, cells_to_blood

MOFFITT_CART = pd.read_csv(DATA / "moffitt_zuma1_cart.csv", comment="#")
"""Moffitt ZUMA-1 CAR T counts, cells/µL, median and IQR (Kimmel et al. 2021, §3d): the file calibration fits."""
MAX_CURVES = 6
plt = pyplot()


def load_observed_pfs(path: str | Path, max_days: float | None = None) -> pd.DataFrame:
    """An observed PFS curve (the one reader, :func:`experiments.trial_data.load_km`) as columns days,
    pfs."""
    from experiments.trial_data import load_km

    km = load_km(path, max_days)
    return pd.DataFrame({"days": km.days, "pfs": km.pfs})


def _groups_to_draw(spec, df: pd.DataFrame) -> list[str]:
    names = [g.name for g in spec.groups]
    if len(names) == 1 or len(names) > MAX_CURVES:
        return []
    return names


def cohort_figures(spec, df: pd.DataFrame | None, summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """PFS Kaplan–Meier, event-time histograms and (for sweeps) P(cure) curves; ``df`` None for an exact-only
    run (no outcomes: the sweep curve only). Returns the files written."""
    written = []
    if df is not None and df["outcome"].notna().any():
        written.append(pfs_figure(spec, df, out_dir / "pfs.png"))
        written.append(event_times_figure(spec, df, out_dir / "event_times.png"))
    if spec.sweep is not None:
        written.append(sweep_figure(spec, summary, out_dir / "p_cure.png"))
    if df is not None and "relapse_type" in df and df["outcome"].notna().any():
        written.append(relapse_figure(spec, summary, out_dir / "relapse_types.png"))
    return written


def relapse_figure(spec, summary: dict[str, Any], path: Path) -> Path:
    """Per group, the share of patients cured, progressing with each clone in the lead, and censored
    (stacked), with the exact P(cure) marked: for a tumour of several clones (antigen escape)."""
    groups = summary.get("groups") or {"all patients": summary["overall"]}
    names = list(groups)
    labels = sorted({lab for g in groups.values() for lab in g.get("relapse_types", {})})
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(names) + 2.5), 4.4))
    x = np.arange(len(names))
    bottom = np.zeros(len(names))
    parts = [("cure", [g["outcomes"]["cure"] / g["n"] for g in groups.values()], "#2e8b57")]
    colours = {"antigen_positive": "#b22222", "antigen_negative": "#6a3d9a"}
    for k, lab in enumerate(labels):
        parts.append((f"progression, {lab.replace('_', '-')} clone leading",
                      [g.get("relapse_types", {}).get(lab, {}).get("fraction_of_patients", 0.0)
                       for g in groups.values()], colours.get(lab, f"C{k + 3}")))
    parts.append(("censored", [g["outcomes"]["censored"] / g["n"] for g in groups.values()], "0.7"))
    for label, frac, colour in parts:
        ax.bar(x, frac, bottom=bottom, color=colour, label=label, width=0.7)
        bottom += np.asarray(frac)
    exact = [g.get("p_cure_exact_mean") for g in groups.values()]
    if any(e is not None for e in exact):
        ax.plot(x, [np.nan if e is None else e for e in exact], "k_", ms=22, mew=2, ls="none",
                label="exact P(cure) (mean over patients)")
    ax.set_xticks(x, names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel("fraction of patients")
    ax.set_ylim(0, 1.0)
    ax.set_title("outcomes by clone: cure, progression led by each clone", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save(fig, path)
    return path


def pfs_figure(spec, df: pd.DataFrame, path: Path) -> Path:
    """Kaplan–Meier PFS per group with confidence bands, months on x; observed curve over it if given."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    names = _groups_to_draw(spec, df)
    sets = [(g, df[df["group"] == g]) for g in names] or [("simulated cohort", df)]
    for label, sub in sets:
        kmf = kaplan_meier(sub["pfs_days"].to_numpy(), sub["pfs_event"].to_numpy())
        t = kmf.survival_function_.index.to_numpy() / DAYS_PER_MONTH
        s = kmf.survival_function_.iloc[:, 0].to_numpy()
        ci = kmf.confidence_interval_survival_function_
        line, = ax.step(t, s, where="post", label=f"{label} (n={len(sub)})")
        ax.fill_between(t, ci.iloc[:, 0], ci.iloc[:, 1], step="post", alpha=0.2, color=line.get_color())
    if spec.observed_pfs_csv:
        obs = load_observed_pfs(spec.observed_pfs_csv)
        ax.step(obs["days"] / DAYS_PER_MONTH, obs["pfs"], where="post", color="0.4", lw=2.5,
                label=f"observed ({Path(spec.observed_pfs_csv).name})")
    ax.set_xlabel("months after CAR T infusion")
    ax.set_ylabel("progression-free survival")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, spec.options.t_end / DAYS_PER_MONTH)
    title = "PFS (Kaplan–Meier, 95% CI)"
    if spec.assessment_days:
        title += ", progression seen at scan visits"
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    save(fig, path)
    return path


def event_times_figure(spec, df: pd.DataFrame, path: Path) -> Path:
    """Histograms (as probabilities) of time to cure and time to progression, per group."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    names = _groups_to_draw(spec, df)
    sets = [(g, df[df["group"] == g]) for g in names] or [("all", df)]
    t_end = spec.options.t_end
    for ax, outcome, title in ((axes[0], "cure", "time to cure"), (axes[1], "progression", "time to progression")):
        bins = np.linspace(0, t_end, 41) if outcome == "progression" else np.linspace(0, min(t_end, 200), 41)
        for label, sub in sets:
            t = sub.loc[sub["outcome"] == outcome, "t_event_days"].to_numpy(float)
            if t.size:
                w = np.full(t.size, 1.0 / len(sub))
                ax.hist(t, bins=bins, weights=w, histtype="step", lw=1.5, label=f"{label} ({t.size}/{len(sub)})")
        ax.set_xlabel("days after CAR T infusion")
        ax.set_ylabel("fraction of patients")
        ax.set_title(title, fontsize=10)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    save(fig, path)
    return path


def sweep_figure(spec, summary: dict[str, Any], path: Path) -> Path:
    """P(cure) with Wilson intervals against the swept value; for a variability sweep, also the spread of
    cure times."""
    pts = summary["sweep"]["points"]
    x = np.array([p["x"] for p in pts])
    var = spec.sweep.parameter == "variability"
    fig, axes = plt.subplots(1, 2 if var else 1, figsize=(10 if var else 5.6, 4))
    ax = axes[0] if var else axes
    if "p_cure" in pts[0]:
        p = np.array([q["p_cure"] for q in pts])
        err = np.clip(np.array([[q["p_cure"] - q["low"], q["high"] - q["p_cure"]] for q in pts]).T, 0, None)
        ax.errorbar(x, p, yerr=err, marker="o", capsize=3, label="simulated (95% Wilson CI)")
    if "p_cure_exact_mean" in pts[0]:
        pe = np.array([q["p_cure_exact_mean"] for q in pts])
        ax.plot(x, pe, "k--", lw=1, label="exact oracle (mean over patients)")
    if spec.sweep.scale == "log":
        ax.set_xscale("log")
    unit = "" if var else f" ({get_model(spec.model).param_specs[spec.sweep.parameter].unit})"
    ax.set_xlabel(f"{spec.sweep.parameter}{unit}")
    ax.set_ylabel("P(cure)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=8)
    if var:
        ax2 = axes[1]
        for q, xv in zip(pts, x, strict=True):
            tc = q.get("time_to_cure_days") or {}
            if tc.get("median") is not None:
                ax2.errorbar([xv], [tc["median"]], yerr=[[tc["median"] - tc["q05"]], [tc["q95"] - tc["median"]]],
                             fmt="o", color="C1", capsize=3)
        ax2.set_xlabel("variability hyperparameter v")
        ax2.set_ylabel("time to cure (days): median, 5–95%")
    save(fig, path)
    return path


def kinetics_figure(spec, kin: dict[str, dict[str, np.ndarray]], out_dir: Path) -> Path:
    """CAR T counts (cells/µL, log scale): median and IQR over patients, Moffitt ZUMA-1 counts over them."""
    path = out_dir / "kinetics.png"
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    items = list(kin.items())
    if len(items) > MAX_CURVES:  # sweeps: pool the patients
        t = items[0][1]["t"]
        items = [("all", {"t": t, "C": np.vstack([v["C"] for _, v in items])})]
    for name, v in items:
        c = cells_to_blood(v["C"])
        q25, med, q75 = np.quantile(c, [0.25, 0.5, 0.75], axis=0)
        label = "model" if name == "all" else name
        line, = ax.plot(v["t"], med, label=f"{label}: median (n={len(c)})")
        ax.fill_between(v["t"], q25, q75, alpha=0.2, color=line.get_color())
    m = MOFFITT_CART
    ax.errorbar(m["day"], m["median"], yerr=[m["median"] - m["q25"], m["q75"] - m["median"]], fmt="ks",
                capsize=4, label="Moffitt ZUMA-1 median (IQR)")
    ax.set_yscale("log")
    ax.set_ylim(1e-3, 1e3)
    ax.set_xlabel("days after CAR T infusion")
    ax.set_ylabel("CAR T cells / µL blood")
    ax.set_title("CAR T kinetics (mean field), median and IQR", fontsize=10)
    ax.legend(fontsize=8)
    save(fig, path)
    return path


def sensitivity_figure(names: list[str], values: dict[str, np.ndarray], errors: dict[str, np.ndarray] | None,
                       title: str, path: Path, xlabel: str) -> Path:
    """Horizontal bars, one panel per output/index, parameters in the given order."""
    keys = list(values)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 0.35 * len(names) + 1.6), sharey=True)
    axes = np.atleast_1d(axes)
    y = np.arange(len(names))[::-1]
    for ax, k in zip(axes, keys, strict=True):
        err = None if errors is None or k not in errors else errors[k]
        ax.barh(y, values[k], xerr=err, color="C0", capsize=3)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_title(k, fontsize=10)
        ax.set_xlabel(xlabel)
    axes[0].set_yticks(y, names)
    fig.suptitle(title, fontsize=10)
    save(fig, path)
    return path


EXPOSURE_CLASSES = (("cure", "#2e8b57"), ("late progression", "#c08a2e"), ("early progression", "#b22222"),
                    ("censored", "0.5"))


def exposure_figure(table: pd.DataFrame, er: dict[str, Any], path: Path) -> Path:
    """Cmax and AUC0–28 (blood units, log axis) by outcome class — and, with the cytokine layer, by CRS-grade
    proxy — as boxes with the patients as points; the ratio of medians responders / non-responders with its
    bootstrap interval in each outcome panel's title."""
    metrics = er["metrics"]
    by_grade = "crs_grade_proxy" in table
    fig, axes = plt.subplots(2 if by_grade else 1, len(metrics), figsize=(5.2 * len(metrics), 8.4 if by_grade
                                                                          else 4.2), squeeze=False)
    rng = np.random.default_rng(0)  # horizontal jitter of the points only
    for col, (name, m) in enumerate(metrics.items()):
        present = [(c, colour) for c, colour in EXPOSURE_CLASSES if er["classes"].get(c)]
        groups = [(f"{c}\n(n={er['classes'][c]})", table.loc[table["class"] == c, name].to_numpy(), colour)
                  for c, colour in present]
        r = m["ratio_responders_to_non_responders"]
        ratio = "n/a" if r["estimate"] is None else f"{r['estimate']:.2g} [{r['low']:.2g}, {r['high']:.2g}]"
        _strip_boxes(axes[0, col], groups, rng, m["label"], f"responders / non-responders (median): {ratio}")
        if by_grade:
            grades = sorted(np.unique(table["crs_grade_proxy"]))
            cmap = plt.get_cmap("Reds")
            groups = [(f"proxy grade {int(g)}\n(n={int((table['crs_grade_proxy'] == g).sum())})",
                       table.loc[table["crs_grade_proxy"] == g, name].to_numpy(), cmap(0.35 + 0.6 * k / max(1,
                                                                                           len(grades) - 1)))
                      for k, g in enumerate(grades)]
            fit = m.get("logistic_severe_crs_proxy", {})
            odds = "n/a" if fit.get("slope") is None else (
                f"{fit['odds_ratio_per_2x']:.2g} [{fit['odds_ratio_per_2x_low']:.2g}, "
                f"{fit['odds_ratio_per_2x_high']:.2g}]")
            _strip_boxes(axes[1, col], groups, rng, m["label"], f"severe CRS proxy: odds ratio per doubling {odds}")
    fig.suptitle(f"exposure by outcome; responder: {er['responder']}"
                 + ("; CRS grade: a cytokine-based proxy" if by_grade else ""), fontsize=10)
    return save(fig, path)


def _strip_boxes(ax, groups: list[tuple[str, np.ndarray, Any]], rng, ylabel: str, title: str) -> None:
    """One box per group on a log axis, its patients as jittered points (at most 400 drawn)."""
    data = [np.clip(d, 1e-3, None) for _, d, _ in groups]
    ax.boxplot(data, positions=range(len(data)), widths=0.5, showfliers=False)
    for k, (d, (_, _, colour)) in enumerate(zip(data, groups, strict=True)):
        pick = d if d.size <= 400 else rng.choice(d, 400, replace=False)
        ax.plot(k + rng.uniform(-0.18, 0.18, pick.size), pick, "o", ms=2.5, alpha=0.35, color=colour)
    ax.set_xticks(range(len(data)), [label for label, _, _ in groups], fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
