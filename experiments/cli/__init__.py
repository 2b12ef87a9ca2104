"""The ``cartsim`` command line: one sub-command per module, wired here.

Bad input is reported as a single line on stderr with exit status 2 (argparse's convention), before any
long work starts.
"""

from __future__ import annotations

import argparse
import os
import sys

from experiments.cli import abm as cli_abm
from experiments.cli import app as cli_app
from experiments.cli import dose as cli_dose
from experiments.cli import fit as cli_fit
from experiments.cli import hybrid as cli_hybrid
from experiments.cli import models as cli_models
from experiments.cli import run as cli_run
from experiments.cli.run import Terminated
from hybrid.errors import CartsimError


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless it is empty or its help already says it."""

    def _get_help_string(self, action):
        if action.default in (None, False, []) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump), so scripts can read the culprit from stderr."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _Help)  # --help shows defaults
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cartsim")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cartsim",
        description="Hybrid stochastic / agent-based simulator of CAR T-cell therapy.",
    )
    parser.add_argument("--version", action="version", version=f"cartsim {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (cli_run, cli_fit, cli_dose, cli_hybrid, cli_abm, cli_models, cli_app):
        module.register(sub)
    return parser


def _quiet_warnings() -> None:
    """Numerical RuntimeWarnings (an overflow on the way to an error that says so) and multiprocessing's
    "leaked semaphore" notice after an interrupted run say nothing a user can act on."""
    import warnings

    warnings.filterwarnings("ignore", category=RuntimeWarning)
    # the resource tracker is a process of its own: it reads the filter from the environment
    os.environ.setdefault("PYTHONWARNINGS", "ignore::UserWarning:multiprocessing.resource_tracker")


def main(argv: list[str] | None = None) -> int:
    _quiet_warnings()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        cli_hybrid.resolve_sbml(args)
        return int(args.handler(args) or 0)
    except CartsimError as exc:
        print(f"cartsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (| head): stop quietly, as Unix tools do
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stays open until exit, swallowing the final flush
        return 141
    except OSError as exc:  # the machine refused (disk full, read-only, permissions): one line, not a traceback
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"cartsim {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Terminated:
        kept = "; finished chunks are kept for --resume" if hasattr(args, "resume") else ""
        print(f"cartsim {args.command}: terminated (SIGTERM){kept}", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"cartsim {args.command}: interrupted", file=sys.stderr)
        return 130

