"""The layering the README promises: the engine knows no model, and every model comes from the registry."""

import ast
import re
from pathlib import Path

import pytest

from hybrid import MODELS
from hybrid.model import ModelSpec

HYBRID = Path(__file__).resolve().parent.parent / "hybrid"
KERNELS = ("engine.py", "integrator.py", "oracle.py", "tabulated.py")


def _imports(path: Path) -> list[str]:
    mods = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            mods += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mods.append("." * node.level + (node.module or ""))
    return mods


@pytest.mark.parametrize("name", KERNELS)
def test_kernels_import_no_model(name):
    mods = _imports(HYBRID / name)
    assert mods, "the parser found no imports at all"
    bad = [m for m in mods if "models" in m or m.lstrip(".") in ("params", "model", "hybrid.params")]
    assert not bad, f"{name} imports {bad}"


@pytest.mark.parametrize("name", KERNELS)
def test_kernels_name_no_model_parameter(name):
    """No parameter name of any registered model appears in a kernel's code as a string or an identifier."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", (HYBRID / name).read_text()))
    names = {p for m in MODELS.values() for p in m.param_names if len(p) > 1}  # one-letter a, b are too common
    assert not words & names, f"{name} mentions {sorted(words & names)}"


def test_every_model_declares_units_and_sources():
    for m in MODELS.values():
        assert isinstance(m, ModelSpec)
        for p in m.params:
            assert p.unit and p.doc and p.source, f"{m.name}.{p.name} lacks a unit, meaning or source"
            p.check(p.default)
        for preset in m.presets:
            assert set(m.preset(preset)) == set(m.param_names)
