"""``cartsim fit CONFIG.toml`` and ``cartsim predict CONFIG.toml``: calibration from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from experiments.cohort.spec import load
from experiments.outputs import check_out_dir


def register(sub: argparse._SubParsersAction) -> None:
    for name, helptext in (("fit", "calibrate to kinetics and/or a Kaplan-Meier curve (kind = 'fit' config)"),
                           ("predict", "one patient's posterior and P(cure) from early counts (kind = 'predict')")):
        p = sub.add_parser(name, help=helptext, description=helptext + "; outputs go to --out (default "
                           "results/<config stem>).")
        p.add_argument("config", help="config (TOML)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a config value (TOML syntax); repeatable")
        p.add_argument("--out", type=Path, default=None, help="output directory")
        p.add_argument("--quiet", action="store_true", help="no progress messages")
        p.add_argument("--overwrite", action="store_true",
                       help="write into a directory that holds files no cartsim run claims")
        if name == "fit":
            p.add_argument("--workers", type=int, default=None, help="processes for the Monte Carlo confirmation")
        p.set_defaults(handler=main, kind=name)


def main(args: argparse.Namespace) -> int:
    from experiments.calibration import run_fit, run_predict, validate_fit, validate_predict

    cfg, source = load(args.config, args.overrides)
    out = check_out_dir(args.out if args.out is not None else Path("results") / Path(args.config).stem)
    spec = validate_fit(cfg, source) if args.kind == "fit" else validate_predict(cfg, source)
    if args.kind == "fit":
        res = run_fit(spec, out, quiet=args.quiet, workers=args.workers, overwrite=args.overwrite)
    else:
        res = run_predict(spec, out, quiet=args.quiet, overwrite=args.overwrite)
    if args.kind == "fit":
        head = {k: res[k] for k in ("mode", "population", "seconds") if k in res}
        head["edge"] = res["edge"]["line"]
        if "pfs" in res:
            head["pfs_max_vertical_distance"] = res["pfs"]["max_vertical_distance"]
        if "response" in res:
            head["response"] = {k: res["response"][k] for k in ("observed", "fitted")}
        if "model_comparison" in res:
            head["model_comparison"] = res["model_comparison"]["line"]
        if "identifiability" in res:
            head["identifiability"] = {k: res["identifiability"][k] for k in ("not_identifiable",
                                                                               "inseparable_pairs")}
    else:
        head = {"p_cure": res["p_cure"], "convergence": res["convergence"]}
    if not args.quiet:
        print(json.dumps(head, indent=1, default=str))
        names = sorted(p.name for p in Path(out).iterdir() if not p.name.startswith("."))
        print(f"cartsim {args.kind}: wrote {out}/: {', '.join(names)}",
              file=sys.stderr)
    return 0
