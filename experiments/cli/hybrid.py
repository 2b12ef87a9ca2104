"""``cartsim trajectory``, ``cartsim patient`` and ``cartsim cure``: the hybrid model from the command line.

Populations are in cells and times in days; ``--set NAME=VALUE`` takes any parameter of the chosen model
(``hybrid.MODELS``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import numpy as np

import hybrid
from experiments.cohort import toxicity
from experiments.cohort.cure import identical_cure
from experiments.outputs import json_default
from experiments.schema import parse_setting
from hybrid import DEFAULT_MODEL, METHODS, MODELS, Parameters, SimOptions
from hybrid.catalog import get_model, sbml_reference
from hybrid.constraints import POSITIVE, Interval
from hybrid.errors import CartsimError

_DEFAULTS = SimOptions()
MAX_TRAJECTORY_ROWS = 10_000_000
"""Rows ``cartsim trajectory`` prints at most (a request beyond it is refused before any work)."""
_SEED = Interval(lo=0, integer=True)


def register(sub: argparse._SubParsersAction) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--preset", default=None,
                        help="parameter preset (default: the model's first; `cartsim models NAME` lists them)")
    common.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS), help="reaction model")
    add_sbml_options(common)
    common.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="override a parameter (cells, days); repeatable")
    common.add_argument("--t-end", type=float, default=_DEFAULTS.t_end, metavar="DAYS", help="follow-up (days)")

    hybrid_opts = argparse.ArgumentParser(add_help=False)
    hybrid_opts.add_argument("--seed", type=int, default=0, help="random seed (integer >= 0)")
    hybrid_opts.add_argument("--threshold", type=float, default=_DEFAULTS.threshold, metavar="CELLS",
                             help="tumour goes stochastic below this many cells (>= 1)")
    hybrid_opts.add_argument("--method", default=_DEFAULTS.method, choices=METHODS, help="stochastic method")

    p = sub.add_parser("trajectory", parents=[common], help="deterministic mean-field trajectory",
                       description="The deterministic mean field N, C, B (cells) every --dt days.")
    p.add_argument("--dt", type=float, default=1.0, metavar="DAYS", help="output interval (days)")
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="output format")
    p.set_defaults(handler=cmd_trajectory)

    p = sub.add_parser("patient", parents=[common, hybrid_opts], help="one hybrid stochastic patient",
                       description="Simulate one patient to cure, progression or the end of follow-up.")
    p.add_argument("--format", choices=("json", "text"), default="json", help="output format")
    p.set_defaults(handler=cmd_patient)

    p = sub.add_parser("cure", parents=[common, hybrid_opts], help="P(cure) over N identical patients",
                       description="Monte Carlo cure probability over N patients with identical parameters, "
                       "beside Kendall's exact value where the model allows it.")
    p.add_argument("--n", type=int, default=1000, help="patients (>= 1)")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: all cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--format", choices=("json", "text"), default="json", help="output format")
    p.set_defaults(handler=cmd_cure)


def add_sbml_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("a model from an SBML file (instead of --model)")
    g.add_argument("--sbml", metavar="FILE", help="import the model from this SBML file")
    g.add_argument("--tumour", metavar="SPECIES", help="with --sbml: the species that goes stochastic (required)")
    g.add_argument("--effector", metavar="SPECIES", help="with --sbml: the CAR T species (default: the first other)")
    g.add_argument("--lymphocytes", metavar="SPECIES", help="with --sbml: the species lymphodepletion resets")


def resolve_sbml(args: argparse.Namespace) -> None:
    """With --sbml, replace args.model by the imported model's name (the file is read here, before any work)."""
    if getattr(args, "sbml", None) is None:
        for role in ("tumour", "effector", "lymphocytes"):
            if getattr(args, role, None) is not None:
                raise CartsimError(f"--{role} is only for a model given with --sbml FILE")
        return
    if args.tumour is None:
        raise CartsimError("--sbml needs --tumour SPECIES (the species that goes stochastic)")
    args.model = sbml_reference(args.sbml, args.tumour, args.effector, args.lymphocytes)
    get_model(args.model)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["K_C=7e10", ...]`` -> ``{"K_C": 7e10}`` (:func:`experiments.schema.parse_setting`); values are
    validated by :class:`Parameters`."""
    return {".".join(path): value for path, value in map(parse_setting, items)}


def _parameters(args: argparse.Namespace) -> Parameters:
    return Parameters.from_preset(args.preset, args.model, **parse_overrides(args.overrides))


def _options(args: argparse.Namespace) -> SimOptions:
    """Options of a stochastic run (patient, cure); checks --seed too."""
    _SEED.check("--seed", args.seed, error=CartsimError)
    return SimOptions(t_end=args.t_end, threshold=args.threshold, method=args.method)


def _dump(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=json_default, allow_nan=False)
    sys.stdout.write("\n")


def _emit(out: dict, fmt: str) -> None:
    """JSON, or one ``key: value`` line per entry (nested tables flattened as key.sub; the provenance record
    belongs to the JSON document, not to the reading)."""
    if fmt == "json":
        _dump(out)
        return
    flat: dict[str, object] = {}
    out = json.loads(json.dumps({k: v for k, v in out.items() if k != "provenance"}, default=json_default))
    for k, v in out.items():
        if isinstance(v, dict):
            flat.update({f"{k}.{s}": w for s, w in v.items()})
        else:
            flat[k] = v
    width = max(map(len, flat))
    for k, v in flat.items():
        print(f"{k:>{width}}: {v}")


def cmd_trajectory(args: argparse.Namespace) -> int:
    params = _parameters(args)
    POSITIVE.check("--dt", args.dt, "days", CartsimError)
    opts = SimOptions(t_end=args.t_end)
    rows = args.t_end / args.dt + 1.0  # a float: t_end / dt may be too large for an integer
    if rows > MAX_TRAJECTORY_ROWS:
        need = rows * (len(params.model.species) + 1) * 8 * 3  # the array, the table and its text
        raise CartsimError(f"--dt {args.dt:g} over --t-end {args.t_end:g} days asks for {rows:,.4g} rows (about "
                           f"{need / 2**30:,.4g} GiB); at most {MAX_TRAJECTORY_ROWS:,} rows: raise --dt to at least "
                           f"{args.t_end / (MAX_TRAJECTORY_ROWS - 1):.3g} days")
    n = math.floor(args.t_end / args.dt + 1e-9)
    t = np.arange(n + 1) * args.dt
    df = hybrid.solve_trajectory(params, t, opts, args.model)
    if args.format == "csv":
        df.to_csv(sys.stdout, index=False, float_format="%.10g")
    else:
        _dump({"units": {"t_days": "days", **dict.fromkeys(params.model.species, "cells")},
               "rows": df.to_dict(orient="records")})
    return 0


def cmd_patient(args: argparse.Namespace) -> int:
    params = _parameters(args)
    opts = _options(args)
    res = hybrid.simulate_patient(params, args.seed, opts, args.model)
    out = {"seed": args.seed, "threshold_cells": opts.threshold, "method": opts.method, **res.as_dict()}
    if toxicity.carries_layer(params.model):
        import pandas as pd

        tox = toxicity.readouts(pd.DataFrame([params.as_dict()]), opts, params.model, toxicity.Toxicity())
        out["toxicity"] = {k: float(tox[k].iloc[0]) for k in toxicity.COLUMNS}
    _emit(out, args.format)
    return 0


def cmd_cure(args: argparse.Namespace) -> int:
    params = _parameters(args)
    opts = _options(args)
    _emit(identical_cure(params, args.n, args.seed, opts, workers=args.workers, progress=not args.quiet), args.format)
    return 0
