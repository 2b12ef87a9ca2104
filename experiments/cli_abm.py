"""``cartsim abm``: run one spatial scenario and report elimination vs escape.

With ``--out DIR``: ``series.parquet`` (one row per step), ``summary.json``, PNG snapshots of the grid and
``animation.gif``, coloured by antigen class with CAR T cells drawn over it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from hybrid.errors import CartsimError

from .store import owned_out_dir, write_json

__all__ = ["register", "main", "parse_sets", "run_abm"]

_FORMATS = ("text", "json")
_SNAPSHOTS = 4  # PNG snapshots: start, two intermediate, end
_MAX_FRAMES = 120  # GIF frames


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``abm`` sub-command."""
    from abm.params import DEFAULT_DAYS
    from abm.scenarios import SCENARIOS

    scen = "; ".join(f"{k}: {v[0]}" for k, v in SCENARIOS.items())
    p = sub.add_parser(
        "abm",
        help="spatial agent-based model of a solid tumour under CAR T attack",
        description="Run one ABM scenario on a 2-D grid. Scenarios: " + scen,
    )
    p.add_argument("--scenario", default="uniform_high", metavar="NAME",
                   help=f"scenario name (default uniform_high); one of: {', '.join(SCENARIOS)}")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                   help="override a model parameter (see abm/params.py or the README table); repeatable")
    p.add_argument("--width", type=int, default=None, help="grid width in sites (default 200)")
    p.add_argument("--height", type=int, default=None, help="grid height in sites (default 200)")
    p.add_argument("--steps", type=int, default=None,
                   help=f"maximum steps (default: {DEFAULT_DAYS:g} days); the run stops early once decided")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, default=None, help="write time series, snapshots and animation here")
    p.add_argument("--format", default="text", help="output format: text or json")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a directory that holds files no cartsim run claims, replacing cartsim outputs")
    p.set_defaults(handler=main)


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``["NAME=VALUE", ...]`` → typed overrides; unknown names and bad values raise CartsimError."""
    from abm.params import parse_value

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise CartsimError(f"--set {item!r}: expected NAME=VALUE")
        name, value = item.split("=", 1)
        out[name.strip()] = parse_value(name.strip(), value)
    return out


def run_abm(scenario: str, overrides: dict[str, Any], steps: int | None, seed: int,
            out: Path | None = None) -> dict[str, Any]:
    """Run one scenario; write outputs when ``out`` is given; return the summary dict."""
    from abm.model import TumourModel
    from abm.params import default_steps
    from abm.render import FrameRecorder, save_gif, save_snapshot
    from abm.scenarios import scenario_params

    params = scenario_params(scenario, overrides)
    if steps is None:
        steps = default_steps(params["step_hours"])
    if steps < 1:
        raise CartsimError(f"--steps must be >= 1, got {steps}")
    if seed < 0:
        raise CartsimError(f"--seed must be >= 0, got {seed}")
    model = TumourModel(seed=seed, **params)
    rec = FrameRecorder(every=max(1, steps // _MAX_FRAMES)) if out is not None else None
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
        model.series().to_parquet(out / "series.parquet")
        picks = sorted({round(i * (len(rec.frames) - 1) / (_SNAPSHOTS - 1)) for i in range(_SNAPSHOTS)})
        snaps = []
        for i in picks:
            t, tc, ct = rec.frames[i]
            name = f"snapshot_{int(round(t)):05d}h.png"
            save_snapshot(out / name, tc, ct, model.vessel, f"{scenario}, seed {seed}, t = {t / 24:.1f} days",
                          model.site_um)
            snaps.append(name)
        save_gif(out / "animation.gif", rec.frames, model.vessel)
        summary["files"] = ["series.parquet", "summary.json", *snaps, "animation.gif"]
        write_json(out / "summary.json", summary)
    return summary


def main(args: argparse.Namespace) -> int:
    """Handler of ``cartsim abm``."""
    if args.format not in _FORMATS:
        raise CartsimError(f"--format {args.format!r}: accepted: {', '.join(_FORMATS)}")
    overrides = parse_sets(args.sets)
    for flag in ("width", "height"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.out is None:
        summary = run_abm(args.scenario, overrides, args.steps, args.seed, None)
    else:
        with owned_out_dir(args.out, "cartsim abm", overwrite=args.overwrite) as notes:
            for note in notes:
                print(f"cartsim: {note}", file=sys.stderr)
            summary = run_abm(args.scenario, overrides, args.steps, args.seed, args.out)
    if args.format == "json":
        print(json.dumps(summary, indent=1, default=float))
    else:
        verdict = "eliminated" if summary["eliminated"] else "not eliminated"
        frac = summary["antigen_negative_fraction"]
        print(f"{summary['scenario']} (seed {summary['seed']}, {summary['width']}x{summary['height']}): "
              f"{verdict} after {summary['steps']} steps ({summary['time_hours'] / 24:.1f} days, "
              f"{summary['stop_reason']})")
        print(f"  tumour cells {summary['tumour_cells']} (antigen-negative fraction "
              f"{'n/a' if frac is None else f'{frac:.3f}'}), CAR T cells {summary['car_t_cells']} "
              f"({summary['car_t_exhausted']} exhausted), infiltration depth "
              f"{summary['infiltration_depth_um']:.0f} µm")
        if args.out is not None:
            print(f"  outputs in {args.out}/", file=sys.stderr)
    return 0
