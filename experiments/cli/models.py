"""``cartsim models`` (the registry: one line per model, or one model's sheet) and ``cartsim export-sbml`` (a
model as an SBML file)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.cli.hybrid import parse_overrides
from hybrid.catalog import get_model
from hybrid.models import DEFAULT_MODEL, MODELS
from hybrid.params import Parameters


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the models, or describe one (species, reactions, parameters)",
                       description="Without NAME: one line per model. With NAME: its species, reactions, "
                       "parameters with units, defaults and sources, presets and exact oracle.")
    p.add_argument("name", nargs="?", default=None, metavar="NAME", help=f"a model: {', '.join(MODELS)}")
    p.set_defaults(handler=cmd_models)
    e = sub.add_parser("export-sbml", help="write a model with its parameter values as SBML Level 3",
                       description="Write a built-in model (species in cells, time in days, parameter units and "
                       "sources annotated) as an SBML Level 3 Version 2 file that libsbml's consistency check "
                       "accepts.")
    e.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS), help="the model")
    e.add_argument("--preset", default=None, help="parameter preset (default: the model's first)")
    e.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter (cells, days); repeatable")
    e.add_argument("out", metavar="OUT.xml", help="the SBML file to write (- for standard output)")
    e.set_defaults(handler=cmd_export_sbml)


def cmd_models(args: argparse.Namespace) -> int:
    if args.name is None:
        width = max(map(len, MODELS))
        for name, spec in MODELS.items():
            print(f"{name:<{width}}  {spec.doc}")
        return 0
    print(get_model(args.name).describe())
    return 0


def cmd_export_sbml(args: argparse.Namespace) -> int:
    from hybrid.sbml import export_sbml

    spec = get_model(args.model)
    values = Parameters.from_preset(args.preset, spec, **parse_overrides(args.overrides))
    if args.out == "-":  # standard output, as Unix tools read "-"
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            path = export_sbml(spec, Path(d) / "model.xml", values)
            sys.stdout.write(path.read_text())
        return 0
    path = export_sbml(spec, args.out, values)
    print(f"cartsim export-sbml: wrote {path} (model {args.model})")
    return 0
