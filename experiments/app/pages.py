"""The cartsim web app (Solara): a patient, a cohort, the spatial model, a calibration and dosing, in the browser.

Start it with ``cartsim app``. Every number shown comes from the packages' public API (hybrid, experiments,
abm); this module only lays out controls and pictures.
"""

from __future__ import annotations

import time
from pathlib import Path

from experiments.figures import use_agg

use_agg()  # before Solara imports matplotlib
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import solara  # noqa: E402
import solara.lab  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import hybrid  # noqa: E402
from experiments.app.files import end_session, public, save_upload, session_dir  # noqa: E402
from experiments.app.jobs import CohortJob, DosingJob, FitJob  # noqa: E402
from experiments.cohort import toxicity  # noqa: E402
from experiments.cohort.spec import Spec, load_spec, revise  # noqa: E402
from experiments.paths import CONFIGS, PACKAGE  # noqa: E402
from hybrid.errors import CartsimError  # noqa: E402
from hybrid.units import blood_to_cells, cells_to_blood, cells_to_volume  # noqa: E402

FIGURES = ("pfs.png", "event_times.png", "kinetics.png", "p_cure.png", "relapse_types.png")
"""The cohort figures the page shows, when the run drew them."""
FOLLOW_UP = hybrid.SimOptions().t_end
"""Days the patient page follows a patient: the engine's default follow-up."""


def _shown(spec: hybrid.ModelSpec, name: str, value: float) -> str:
    """A value with its clinical reading: cells of a tumour's initial size as a volume, other cells per µL of
    blood (:mod:`hybrid.units`)."""
    unit = spec.param_specs[name].unit
    if unit != "cells":
        return f"{value:.3g} {unit}"
    if len(spec.initial) == len(spec.species) and name in {spec.initial[spec.index(t)] for t in spec.tumour_species}:
        return f"{value:.3g} cells ({cells_to_volume(value):.3g} ml)"
    return f"{value:.3g} cells ({cells_to_blood(value):.3g} cells/µL)"


def _area() -> Path:
    """This browser session's own folder: its uploads and results (removed when the session ends)."""
    return session_dir(solara.get_kernel_id())


@solara.lab.on_kernel_start
def _session_cleanup():
    kernel = solara.get_kernel_id()
    return lambda: end_session(kernel)


def _save_upload(f: dict) -> Path:
    """A dropped file (solara.FileDrop's dict) saved in this session's upload area (name and size checked)."""
    return save_upload(_area(), f["name"], f["data"])


# -- Patient ---------------------------------------------------------------------------------------------------
model_name = solara.reactive(hybrid.DEFAULT_MODEL)
preset_name = solara.reactive(None)
values = solara.reactive({})
threshold = solara.reactive(hybrid.SimOptions().threshold)
draws = solara.reactive([])


def patient_parameters() -> hybrid.Parameters:
    spec = hybrid.get_model(model_name.value)
    over = {k: v for k, v in values.value.items() if k in spec.param_specs}
    return hybrid.Parameters.from_preset(preset_name.value, spec, **over)


def patient_figure(p: hybrid.Parameters, opts: hybrid.SimOptions, patients: list) -> tuple[Figure, float | None]:
    """Mean field (log axis, blood and volume units on secondary axes) and the exact P(cure by t); with the
    cytokine layer, a third panel: IL-6 and IFNγ (pg/mL) against the CRS-proxy thresholds."""
    spec = p.model
    layer = toxicity.carries_layer(spec)
    days = np.linspace(0.0, opts.t_end, 366)
    traj = hybrid.solve_trajectory(p, days, opts)
    curve = hybrid.cure_probability_exact(p, days, opts)
    fig = Figure(figsize=(14 if layer else 10, 4.2), dpi=80)  # the page's update time is matplotlib's
    axes = fig.subplots(1, 3 if layer else 2)
    ax, ax2 = axes[0], axes[1]
    fig.subplots_adjust(left=0.06, right=0.97, bottom=0.13, top=0.92, wspace=0.32)
    if layer:
        _cytokine_panel(axes[2], p, opts)
    for k, sp in enumerate(s for s in spec.species if s not in toxicity.LAYER_SPECIES):
        y = np.clip(traj[sp].to_numpy(), 1e-2, None)
        ax.semilogy(days, y, lw=2, color=f"C{k}", label=f"{sp} (mean field)")
        for pat in patients:
            tr = pat.trajectory
            ax.semilogy(tr["t_days"], np.clip(tr[sp], 1e-2, None), lw=0.7, alpha=0.6, color=f"C{k}")
    ax.axhline(opts.threshold, color="0.5", ls=":", lw=1, label="stochastic threshold")
    ax.set_ylim(1e-1, 1e13)
    ax.set_xlabel("days after infusion")
    ax.set_ylabel("cells")
    sec = ax.secondary_yaxis("right", functions=(cells_to_blood, blood_to_cells))
    sec.set_ylabel("cells/µL of blood (T cells); ×1e9 cells = 1 ml tumour", fontsize=8)
    ax.legend(fontsize=7, loc="lower left")
    p_end = None
    if curve is not None:
        ax2.plot(days, curve, color="#2e8b57", lw=2)
        p_end = float(curve[-1])
        ax2.set_title(f"exact P(cure by day t); day {opts.t_end:g}: {p_end:.4f}", fontsize=10)
    else:
        ax2.text(0.5, 0.5, f"model {spec.name}: no exact oracle", ha="center", transform=ax2.transAxes)
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_xlabel("days after infusion")
    ax2.set_ylabel("P(cure by t)")
    return fig, p_end


def _cytokine_panel(ax, p: hybrid.Parameters, opts: hybrid.SimOptions) -> None:
    """IL-6 and IFNγ over the first weeks with the proxy's grade thresholds, and the patient's readouts."""
    tox = toxicity.Toxicity()
    t, rec = toxicity.course(pd.DataFrame([p.as_dict()]), opts, p.model)
    for sp, colour in (("IL6", "#b22222"), ("IFNg", "#466ea0")):
        ax.semilogy(t, np.clip(rec[0, :, p.model.index(sp)], 1e-1, None), lw=2, color=colour,
                    label=f"{sp} (pg/mL)")
    for k, level in enumerate(tox.grade_thresholds, start=1):
        ax.axhline(level, color="0.6", ls=":", lw=1)
        ax.text(t[-1], level, f" grade {k}{'+' if k == len(tox.grade_thresholds) else ''}", fontsize=7,
                va="bottom", ha="right", color="0.4")
    r = toxicity.readouts_of(t, rec, p.model, tox).iloc[0]
    ax.set_title(f"IL-6 peak {r['il6_peak_pg_ml']:.0f} pg/mL on day {r['il6_peak_day']:.1f}: CRS proxy grade "
                 f"{int(r['crs_grade_proxy'])} (cytokine-based)", fontsize=9)
    ax.set_xlabel("days after infusion")
    ax.set_ylabel("pg/mL")
    ax.legend(fontsize=7, loc="center right")


@solara.component
def PatientPage():
    spec = hybrid.get_model(model_name.value)
    base = spec.preset(preset_name.value)

    def compute():
        try:
            opts = hybrid.SimOptions(t_end=FOLLOW_UP, threshold=threshold.value)
            return (*patient_figure(patient_parameters(), opts, draws.value), None)
        except CartsimError as exc:  # the same one line the command line prints
            return None, None, str(exc)

    fig, p_end, error = solara.use_memo(compute, [model_name.value, preset_name.value, str(values.value),
                                                  threshold.value, len(draws.value)])

    def draw_patients():
        try:
            opts = hybrid.SimOptions(t_end=FOLLOW_UP, threshold=threshold.value, record_dt=1.0)
            draws.value = [hybrid.simulate_patient(patient_parameters(), seed, opts) for seed in range(5)]
        except CartsimError:
            draws.value = []

    with solara.Columns([1, 3]):
        with solara.Column():
            solara.Select("model", values=list(hybrid.MODELS), value=model_name,
                          on_value=lambda _: (values.set({}), draws.set([])))
            solara.Select("preset", values=list(spec.presets), value=preset_name.value or next(iter(spec.presets)),
                          on_value=lambda v: (preset_name.set(v), values.set({}), draws.set([])))
            for name, pspec in spec.param_specs.items():
                v = values.value.get(name, base[name])
                lo, hi, log = pspec.display_range(base[name])
                # the slider holds the offset from the preset's value (log10 ratio or difference), so that the
                # preset itself sits on the slider's grid and is shown unrounded
                b0 = base[name]
                log = log and b0 > 0
                x = np.log10(v / b0) if log else v - b0

                def set_value(nv, name=name, log=log, b0=b0):
                    values.value = {**values.value, name: float(b0 * 10 ** nv if log else b0 + nv)}
                    draws.value = []

                step = 0.01 if log else (hi - lo) / 200
                x_lo = step * np.floor((np.log10(lo / b0) if log else lo - b0) / step)
                x_hi = step * np.ceil((np.log10(hi / b0) if log else hi - b0) / step)
                solara.FloatSlider(f"{name} ({pspec.unit})", value=float(x), min=float(x_lo), max=float(x_hi),
                                   step=step, on_value=set_value, thumb_label=False)
                solara.Text(_shown(spec, name, v), style={"font-size": "12px", "color": "#555"})
            solara.InputFloat("threshold (cells)", value=threshold, continuous_update=False)
            solara.Button("draw 5 stochastic patients", on_click=draw_patients, color="primary")
        with solara.Column():
            if error:
                solara.Error(error)
            else:
                solara.Markdown(f"**P(cure by day {FOLLOW_UP:g}), exact:** {p_end:.4f}" if p_end is not None
                                else "**P(cure):** Monte Carlo only for this model")
                solara.FigureMatplotlib(fig, format="png")
                if draws.value:
                    solara.Markdown(", ".join(f"patient {k}: {d.outcome} (day {d.t_event_days:.0f})"
                                              for k, d in enumerate(draws.value)))


# -- Cohort ----------------------------------------------------------------------------------------------------
def _cohort_configs() -> list[str]:
    return sorted(p.name for p in CONFIGS.glob("*.toml")
                  if "kind =" not in p.read_text() or 'kind = "cohort"' in p.read_text())


config_name = solara.reactive("kimmel2021_pfs.toml")
uploaded = solara.reactive(None)
cohort_n = solara.reactive(300)
cohort_seed = solara.reactive(2021)
cohort_v = solara.reactive("0.05")
extra = solara.reactive("")
job_ref = solara.reactive(None)
job_tick = solara.reactive(0)
cohort_error = solara.reactive(None)


def _cohort_spec(path: str, roots: tuple[Path, ...]) -> Spec:
    """The chosen config validated, the typed-in settings applied, then the inputs' typed values."""
    settings = [line.strip() for line in extra.value.splitlines() if line.strip()]
    v = cohort_v.value.strip()
    try:
        level = float(v) if v else None
    except ValueError:
        raise CartsimError(f"variability v: {v!r} is not a number") from None
    spec = load_spec(path, settings, roots)
    return revise(spec, n=cohort_n.value, seed=cohort_seed.value, variability=level)


def _watcher(tick: solara.Reactive, every: float):
    """A background task that redraws a page (bumps ``tick``) every ``every`` seconds while its job runs, and
    once when it ends; one per page, so that one page's job never cancels the other's watch."""

    @solara.lab.task
    def watch(job):
        while job.state == "running":
            tick.value += 1
            time.sleep(every)
        tick.value += 1

    return watch


watch_job = _watcher(job_tick, 0.25)


@solara.component
def CohortPage():
    job: CohortJob | None = job_ref.value
    _ = job_tick.value

    def run():
        cohort_error.value = None
        path = uploaded.value or str(CONFIGS / config_name.value)
        # a dropped config may name only this session's files; a shipped one also cartsim's own data
        roots = (_area(),) if uploaded.value else (_area(), PACKAGE)
        try:
            new = CohortJob(_cohort_spec(path, roots), area=_area())
            if job is not None:
                job.discard()
            job_ref.value = new.start()
        except CartsimError as exc:
            cohort_error.value = public(str(exc))
            return
        watch_job(new)

    def on_upload(f):
        try:
            uploaded.value = str(_save_upload(f))
        except CartsimError as exc:
            cohort_error.value = public(str(exc))

    with solara.Columns([1, 3]):
        with solara.Column():
            solara.Select("shipped config", values=_cohort_configs(), value=config_name)
            solara.FileDrop(label="or drop a config (TOML) here", on_file=on_upload, lazy=False)
            # always drawn, so that the inputs below keep their places (and their values) when a file is dropped
            solara.Text(f"using {Path(uploaded.value).name}" if uploaded.value else "")
            solara.InputInt("patients (cohort.n)", value=cohort_n)
            solara.InputInt("seed", value=cohort_seed)
            solara.InputText("variability v (sd / mean)", value=cohort_v)
            solara.InputTextArea("more settings, NAME=VALUE per line (e.g. groups.slow.r_B=0.11)", value=extra,
                                 rows=3)
            with solara.Column():  # always there: a message appearing must not move the inputs' places
                if cohort_error.value:
                    solara.Error(cohort_error.value)
            with solara.Row():
                solara.Button("Run", on_click=run, color="primary",
                              disabled=job is not None and job.state in ("running", "cancelling"))
                solara.Button("Cancel", on_click=lambda: job.cancel() if job else None,
                              disabled=job is None or job.state != "running")
        with solara.Column():
            if job is None:
                solara.Markdown("Choose a config and press **Run**.")
                return
            solara.ProgressLinear(value=100 * job.progress)
            solara.Text(f"{job.state}: {job.done_chunks}/{job.n_chunks} chunks of {job.spec.n} patients")
            if job.state == "failed":
                solara.Error(public(job.error or "failed"))
            if job.state == "done":
                _CohortResults(job)


@solara.component
def _CohortResults(job: CohortJob):
    s = job.summary or {}
    groups = s.get("groups") or {"all patients": s.get("overall", {})}
    rows = []
    for g, v in groups.items():
        pc = v.get("p_cure", {})
        ex = v.get("p_cure_exact_mean")
        rows.append({"group": g, "n": v.get("n"), "P(cure)": round(pc.get("estimate", float("nan")), 3),
                     "95% low": round(pc.get("low", float("nan")), 3),
                     "95% high": round(pc.get("high", float("nan")), 3),
                     "exact (mean)": None if ex is None else round(ex, 4)})
    solara.Markdown("**P(cure) per group** (Wilson intervals)")
    solara.DataFrame(pd.DataFrame(rows))
    # the run's own figures (the files a user downloads), read once per run, not at every render
    images = solara.use_memo(lambda: [f.read_bytes() for f in map(job.file, FIGURES) if f is not None], [job])
    for data in images:
        solara.Image(data, width="720px")
    with solara.Row():
        pq = job.file("patients.parquet")
        if pq is not None:
            # read and converted only when a download is asked for, not at every render
            solara.FileDownload(lambda: pq.read_bytes(), "patients.parquet", label="Parquet")
            solara.FileDownload(lambda: job.result.patients().to_csv(index=False).encode(), "patients.csv",
                                label="CSV")
        png = job.file("pfs.png")
        if png is not None:
            solara.FileDownload(png.read_bytes(), "pfs.png", label="PNG (PFS)")


# -- Calibration -----------------------------------------------------------------------------------------------
fit_ref = solara.reactive(None)
fit_tick = solara.reactive(0)
fit_error = solara.reactive(None)


watch_fit = _watcher(fit_tick, 0.5)


@solara.component
def CalibrationPage():
    job: FitJob | None = fit_ref.value
    _ = fit_tick.value

    def on_upload(f):
        fit_error.value = None
        try:
            path = _save_upload(f)
            if job is not None:
                job.cancel()
            new = FitJob(path, _area())
        except CartsimError as exc:
            fit_error.value = public(str(exc))
            return
        fit_ref.value = new
        watch_fit(new)

    solara.Markdown("Drop a **kinetics CSV** (per patient: patient, day, car_t_per_ul; or summary: day, median, "
                    "q25, q75; cells/µL) or a **Kaplan–Meier CSV** (days or months, pfs): the population is "
                    "fitted as `cartsim fit` does with the shipped `fit_kinetics.toml` / `calibrate_pfs.toml` "
                    "(per-patient counts: each patient within the bounds of the population's median).")
    solara.FileDrop(label="drop a CSV here", on_file=on_upload, lazy=False)
    with solara.Column():
        if fit_error.value:
            solara.Error(fit_error.value)
    if job is None:
        return
    name = job.csv.name
    state = job.state
    if state == "running":
        solara.ProgressLinear(True)
        with solara.Row():
            solara.Text(f"fitting {name} ...")
            solara.Button("Cancel", on_click=lambda: (job.cancel(), fit_tick.set(fit_tick.value + 1)))
    elif state == "cancelled":
        solara.Text(f"fit of {name} cancelled")
    elif state == "failed":
        solara.Error(public(job.error or "failed"))
    else:
        res = job.result or {}
        est = res.get("population") or res.get("individuals") or {}
        solara.Markdown(f"**Fitted {name}** in {res.get('seconds', 0):.0f} s")
        solara.DataFrame(pd.DataFrame(est).T.reset_index(names="parameter") if est else pd.DataFrame())
        for fig in ("kinetics.png", "pfs.png"):
            f = job.file(fig)
            if f is not None:
                solara.Image(f.read_bytes(), width="720px")


# -- Spatial ---------------------------------------------------------------------------------------------------
@solara.component
def SpatialPage():
    from abm.app import Page as AbmPage

    AbmPage()


# -- Dosing ----------------------------------------------------------------------------------------------------
dose_burden = solara.reactive(30.0)
dose_limit = solara.reactive(0.2)
dose_product = solara.reactive("tisa-cel")
dosing_ref: solara.Reactive[DosingJob | None] = solara.reactive(None)
dosing_error: solara.Reactive[str | None] = solara.reactive(None)
dosing_tick = solara.reactive(0)
NOMOGRAM_SETTINGS = ("cohort.n=30", "dosing.doses={from = 2e7, to = 2e9, num = 8}",
                     "dosing.burdens={from = 3, to = 300, num = 6}")
"""The shipped dosing.toml made small enough for a browser (8 x 6 x 3 cells of 30 patients)."""


def dosing_job(kind: str, area: Path | None) -> DosingJob:
    """The shipped dosing.toml (small, ``kind`` "nomogram") or dose_patient.toml ("dose") with the page's
    burden, limit and product, writing under ``area``."""
    from experiments.cohort.spec import load
    from experiments.dosing import validate_dose, validate_dosing

    if kind == "nomogram":
        cfg, source = load(CONFIGS / "dosing.toml", [*NOMOGRAM_SETTINGS, f"dosing.product={dose_product.value!r}",
                                                     f"dosing.toxicity_limit={dose_limit.value}"])
        return DosingJob(validate_dosing(cfg, source), area)
    cfg, source = load(CONFIGS / "dose_patient.toml", [f"patient.burden={dose_burden.value}", "patient.draws=40",
                                                       f"dose.product={dose_product.value!r}",
                                                       f"dose.toxicity_limit={dose_limit.value}", "dose.grid_points=9"])
    return DosingJob(validate_dose(cfg, source), area)


watch_dosing = _watcher(dosing_tick, 0.5)


@solara.component
def DosingPage():
    from experiments.dosing.products import PRODUCTS

    job: DosingJob | None = dosing_ref.value
    _ = dosing_tick.value

    def run(kind: str):
        dosing_error.value = None
        try:
            new = dosing_job(kind, _area()).start()
        except CartsimError as exc:
            dosing_error.value = public(str(exc))
            return
        if job is not None:
            job.discard()
        dosing_ref.value = new
        watch_dosing(new)

    solara.Markdown("The dosing experiment (`kind = \"dosing\"`) and one patient's dose (`cartsim dose`), as the "
                    "shipped `dosing.toml` and `dose_patient.toml` run them, small: Kimmel's model with the "
                    "cytokine layer; severe CRS is the layer's proxy (peak IL-6), not ASTCT grading.")
    with solara.Row():
        solara.Select(label="product", value=dose_product, values=list(PRODUCTS))
        solara.SliderFloat("tumour burden (ml)", value=dose_burden, min=1.0, max=300.0, step=1.0)
        solara.SliderFloat("toxicity limit, P(severe CRS)", value=dose_limit, min=0.05, max=0.95, step=0.05)
    with solara.Row():
        solara.Button("Recommend a dose", on_click=lambda: run("dose"),
                      disabled=job is not None and job.state == "running")
        solara.Button("Draw the nomogram", on_click=lambda: run("nomogram"),
                      disabled=job is not None and job.state == "running")
    if dosing_error.value:
        solara.Error(dosing_error.value)
    if job is None:
        return
    if job.state == "running":
        solara.ProgressLinear(True)
        solara.Text("running ...")
    elif job.state == "failed":
        solara.Error(public(job.error or "failed"))
    elif job.result is not None:
        if "answer" in job.result:
            solara.Markdown(f"**{job.result['answer']}**")
        for name in ("dose.png", "nomogram.png"):
            f = job.file(name)
            if f is not None:
                solara.Image(f.read_bytes(), width="900px")


routes = [
    solara.Route(path="/", component=PatientPage, label="Patient"),
    solara.Route(path="cohort", component=CohortPage, label="Cohort"),
    solara.Route(path="spatial", component=SpatialPage, label="Spatial"),
    solara.Route(path="calibration", component=CalibrationPage, label="Calibration"),
    solara.Route(path="dosing", component=DosingPage, label="Dosing"),
]
