"""``cartsim dose CONFIG.toml``: one patient's dose and schedule under a toxicity limit."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from experiments.cohort.spec import load
from experiments.outputs import check_out_dir


def register(sub: argparse._SubParsersAction) -> None:
    helptext = ("the dose and schedule that maximise one patient's P(cure) with P(severe CRS) under a limit "
                "(kind = 'dose' config)")
    p = sub.add_parser("dose", help=helptext, description=helptext + "; outputs go to --out (default "
                       "results/<config stem>).")
    p.add_argument("config", help="config (TOML)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value (TOML syntax); repeatable")
    p.add_argument("--out", type=Path, default=None, help="output directory")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--overwrite", action="store_true",
                   help="write into a directory that holds files no cartsim run claims")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    from experiments.dosing import run_dose, validate_dose

    cfg, source = load(args.config, args.overrides)
    out = check_out_dir(args.out if args.out is not None else Path("results") / Path(args.config).stem)
    spec = validate_dose(cfg, source)
    res = run_dose(spec, out, workers=args.workers, overwrite=args.overwrite)
    if not args.quiet:
        head = {"answer": res["answer"], "recommended": res["recommended"], "seconds": round(res["seconds"], 1)}
        print(json.dumps(head, indent=1, default=str))
        print(f"cartsim dose: wrote {out}/: dose.json, dose.png, provenance.json", file=sys.stderr)
    return 0
