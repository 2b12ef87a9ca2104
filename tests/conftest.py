"""Shared test settings: the ``slow`` marker runs only with --runslow (CI skips it)."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def cli(capsys):
    """``cli(argv)`` runs ``cartsim argv`` in-process: (exit status, stdout, stderr)."""
    from experiments.cli import main

    def run(argv):
        try:
            status = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's own errors
            status = exc.code
        out = capsys.readouterr()
        return status, out.out, out.err

    return run
