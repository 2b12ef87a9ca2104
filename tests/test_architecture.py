"""The layering the README promises, read from the import statements of every module (function-level imports
included): imports run one way, from the front ends down to ``hybrid/``; the engine knows no model; every
model comes from the registry; no module imports itself through a circle."""

import ast
import re
from pathlib import Path

import pytest

from hybrid import MODELS
from hybrid.model import ModelSpec

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hybrid", "abm", "experiments")
KERNELS = ("hybrid.engine", "hybrid.integrator", "hybrid.oracle", "hybrid.tabulated", "hybrid.dosing")
LIBRARY_ROOMS = ("experiments.cohort", "experiments.spatial", "experiments.calibration", "experiments.figures")


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _imports(name: str, path: Path, is_pkg: bool, known) -> set[str]:
    """The project modules ``name`` imports (a name imported from a package counts as its submodule when it is
    one, else as the package)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in known]
            targets = subs if len(subs) == len(node.names) else [*subs, mod]
        else:
            continue
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def import_graph() -> dict[str, set[str]]:
    """Every module of the project and the project modules it imports."""
    mods = _modules()
    return {m: _imports(m, p, is_pkg, mods) for m, (p, is_pkg) in mods.items()}


def _in(module: str, *rooms: str) -> bool:
    return any(module == r or module.startswith(r + ".") for r in rooms)


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Each import that breaks a layering rule, as 'importer -> imported: rule'."""
    out = []
    for a, targets in graph.items():
        for b in targets:
            rules = [
                (_in(a, "hybrid") and _in(b, "abm", "experiments"), "hybrid imports neither abm nor experiments"),
                (_in(a, "abm") and _in(b, "experiments"), "abm does not import experiments"),
                (_in(b, "experiments.cli") and not _in(a, "experiments.cli"), "only the command line imports it"),
                (_in(a, "experiments.app") and _in(b, "experiments.cli"), "the app imports no CLI module"),
                (not _in(a, "experiments.app", "experiments.cli") and _in(b, "experiments.app"),
                 "only front ends import the app"),
                (_in(a, "experiments.figures") and _in(b, *LIBRARY_ROOMS) and not _in(b, "experiments.figures"),
                 "figures draw results; they run nothing"),
                (a in KERNELS and (_in(b, "hybrid.models", "hybrid.catalog") or
                                   b in ("hybrid.params", "hybrid.paramspec", "hybrid.model")),
                 "the engine knows no model"),
            ]
            out += [f"{a} -> {b}: {rule}" for broken, rule in rules if broken]
    return sorted(out)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_graph_sees_every_package_and_the_imports_between_them():
    g = import_graph()
    assert {"hybrid.engine", "abm.model", "experiments.cli", "experiments.cohort.runner"} <= set(g)
    assert "hybrid.integrator" in g["hybrid.engine"]
    assert "experiments.cohort.runner" in g["experiments.cli.run"]  # a function-level import counts


def test_imports_run_one_way():
    assert violations(import_graph()) == []


@pytest.mark.parametrize(("importer", "imported"), [
    ("hybrid.simulate", "experiments.cohort.runner"), ("hybrid.engine", "abm.model"),
    ("abm.model", "experiments.outputs"), ("experiments.cohort.runner", "experiments.cli.run"),
    ("experiments.app.pages", "experiments.cli.hybrid"), ("experiments.calibration.fit", "experiments.app.jobs"),
    ("experiments.figures.cohort", "experiments.cohort.runner"), ("hybrid.engine", "hybrid.models.kimmel2021"),
])
def test_a_forbidden_import_is_caught(importer, imported):
    g = import_graph()
    g[importer] = g[importer] | {imported}
    assert [v for v in violations(g) if v.startswith(f"{importer} -> {imported}:")]


def test_no_module_imports_itself_through_a_circle():
    assert cycles(import_graph()) == []
    g = import_graph()
    g["hybrid.paramspec"] = g["hybrid.paramspec"] | {"hybrid.catalog"}  # catalog -> models -> ... -> paramspec
    assert any("hybrid.paramspec" in c for c in cycles(g))


def test_the_registry_does_not_import_the_sbml_bridge():
    g = import_graph()
    assert not any(_in(b, "hybrid.sbml") for b in g["hybrid.models"])
    assert not any(_in(b, "hybrid.models", "hybrid.catalog") for m in g if _in(m, "hybrid.sbml") for b in g[m])


@pytest.mark.parametrize("name", KERNELS)
def test_kernels_name_no_model_parameter(name):
    """No parameter name of any registered model appears in a kernel's code as a string or an identifier."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", (ROOT / (name.replace(".", "/") + ".py")).read_text()))
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


def test_tests_import_no_other_test_module():
    """Shared test helpers live in conftest.py or tests/helpers/, never in a test module another one imports."""
    tests = Path(__file__).resolve().parent
    names = {p.stem for p in tests.rglob("test_*.py")}
    for path in tests.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad = [m for m in mods if m.split(".")[-1] in names]
            assert not bad, f"{path.relative_to(tests)} imports the test module(s) {bad}"


def test_the_registry_holds_every_model_module_under_its_own_name():
    """A module of hybrid/models defines MODEL (except the cytokine layer) and is registered under the model's
    name, so the registry can load a model from its name alone."""
    modules = {p.stem for p in (ROOT / "hybrid" / "models").glob("*.py")} - {"__init__", "cytokines"}
    assert set(MODELS) == modules
    for name, spec in MODELS.items():
        assert isinstance(spec, ModelSpec) and spec.name == name


def test_a_command_on_one_model_loads_no_other_model_and_no_mesa():
    """`cartsim cure` (the default model) imports that model's module only, and not Mesa (the spatial model's)."""
    import subprocess
    import sys

    code = ("import sys; from experiments.cli import main; main(['cure', '--n', '5', '--workers', '1']); "
            "print(sorted(m for m in sys.modules if m.startswith(('hybrid.models.', 'mesa', 'abm.model'))))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = ast.literal_eval(proc.stdout.strip().splitlines()[-1])
    assert loaded == ["hybrid.models.cytokines", "hybrid.models.kimmel2021"]  # cytokines: the readout names
