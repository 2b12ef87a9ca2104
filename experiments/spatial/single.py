"""One run of the spatial model (``cartsim abm``): a scenario, its time series, snapshots and animation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from experiments.outputs import atomic_path, write_json
from experiments.provenance import start
from hybrid.errors import CartsimError

SNAPSHOTS = 4
"""PNG snapshots of a run: start, two intermediate, end."""
MAX_FRAMES = 120
"""Frames of the animation at most."""


def run_abm(scenario: str, overrides: dict[str, Any], steps: int | None, seed: int,
            out: Path | None = None) -> dict[str, Any]:
    """Run one scenario of the spatial model for at most ``steps`` steps (default: the scenario's days); with
    ``out``, write series.parquet, summary.json (with its provenance record), provenance.json, PNG snapshots and
    animation.gif there. Returns the summary."""
    from abm.model import TumourModel
    from abm.params import default_steps
    from abm.render import FrameRecorder, save_gif
    from abm.scenarios import scenario_params
    from experiments.figures.spatial import save_snapshot

    params = scenario_params(scenario, overrides)
    if steps is None:
        steps = default_steps(params["step_hours"])
    if steps < 1:
        raise CartsimError(f"--steps must be >= 1, got {steps}")
    if seed < 0:
        raise CartsimError(f"--seed must be >= 0, got {seed}")
    prov = start("experiments.spatial.run_abm", {"scenario": scenario, "set": overrides, "steps": steps}, abm=seed)
    model = TumourModel(seed=seed, **params)
    rec = FrameRecorder(every=max(1, steps // MAX_FRAMES)) if out is not None else None
    if rec is not None:
        rec.record(model, force=True)
    while model.running and model.steps < steps:
        model.step()
        if rec is not None:
            rec.record(model)
    if model.running and model.stop_reason == "running":
        model.stop_reason = "max_steps"
    summary = {"scenario": scenario, "seed": seed, "width": model.width, "height": model.height,
               **model.summary(), "parameters": params}
    if out is not None:
        rec.record(model, force=True)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "series.parquet") as tmp:
            model.series().to_parquet(tmp)
        picks = sorted({round(i * (len(rec.frames) - 1) / (SNAPSHOTS - 1)) for i in range(SNAPSHOTS)})
        snaps = []
        for i in picks:
            t, tc, ct = rec.frames[i]
            name = f"snapshot_{int(round(t)):05d}h.png"
            save_snapshot(out / name, tc, ct, model.vessel, f"{scenario}, seed {seed}, t = {t / 24:.1f} days",
                          model.site_um)
            snaps.append(name)
        with atomic_path(out / "animation.gif") as tmp:
            save_gif(tmp, rec.frames, model.vessel)
        summary["files"] = ["series.parquet", "summary.json", "provenance.json", *snaps, "animation.gif"]
        prov.stamp(summary, out)
        write_json(out / "summary.json", summary)
    return summary
