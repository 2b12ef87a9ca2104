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

from experiments.outputs import owned_run
from experiments.schema import parse_setting
from experiments.spatial.single import run_abm
from hybrid.errors import CartsimError

__all__ = ["register", "main", "parse_sets"]

_FORMATS = ("text", "json")


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
    """``["NAME=VALUE", ...]`` (:func:`experiments.schema.parse_setting`) -> typed overrides; unknown names and
    bad values raise CartsimError."""
    from abm.params import parse_value

    return {".".join(path): parse_value(".".join(path), value) for path, value in map(parse_setting, items)}


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
        with owned_run(args.out, "cartsim abm", overwrite=args.overwrite):
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
