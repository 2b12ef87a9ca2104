"""``cartsim models``: the model registry from the command line (one line per model, or one model's sheet)."""

from __future__ import annotations

import argparse

from hybrid.models import MODELS, get_model


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the models, or describe one (species, reactions, parameters)",
                       description="Without NAME: one line per model. With NAME: its species, reactions, "
                       "parameters with units, defaults and sources, presets and exact oracle.")
    p.add_argument("name", nargs="?", default=None, metavar="NAME", help=f"a model: {', '.join(MODELS)}")
    p.set_defaults(handler=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    if args.name is None:
        width = max(map(len, MODELS))
        for name, spec in MODELS.items():
            print(f"{name:<{width}}  {spec.doc}")
        return 0
    print(get_model(args.name).describe())
    return 0
