"""The ``cartsim`` command line: one sub-command per module, wired here.

Bad input is reported as a single line on stderr with exit status 2 (argparse's convention), before any
long work starts.
"""

from __future__ import annotations

import argparse
import sys

from hybrid.errors import CartsimError

from . import cli_abm, cli_fit, cli_hybrid, cli_run


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (no usage dump), so scripts can read the culprit from stderr."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cartsim",
        description="Hybrid stochastic / agent-based simulator of CAR T-cell therapy.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (cli_run, cli_fit, cli_hybrid, cli_abm):
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except CartsimError as exc:
        print(f"cartsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cartsim {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
