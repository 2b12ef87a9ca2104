"""SBML in: a researcher's model as a :class:`hybrid.model.ModelSpec` that runs through the hybrid engine.

The rate laws become one Numba-compiled ``rates(t, x, p, out)`` in a generated module (cached on disk like the
built-in kernels), so an imported model runs at the speed of a built-in one.

- State: species that are neither constant nor set by a rule, then parameters with a rate rule; in amounts
  (a species without hasOnlySubstanceUnits appears in math as amount / compartment size).
- Parameters: global parameters, compartment sizes, kinetic-law local parameters (as REACTION_NAME) and each
  state's initial amount (as ID_0, from initialAmount, initialConcentration × size, or an initial assignment).
- Reactions: kinetic laws (amount/time) and constant stoichiometry. Rate rules: the species' own reaction, a
  signed flux; for the tumour, the sum is split into its additive terms, each a birth (+) or death (−) reaction
  that must be non-negative.
- Function definitions are expanded, assignment rules evaluated in dependency order.
- Refused, naming the element: events, delays, algebraic rules, fast reactions, variable stoichiometry,
  non-constant compartments, piecewise in a tumour propensity, a tumour rate rule that cannot be split.

Whether Kendall's oracle applies is detected, not declared: the tumour's propensities must be linear in it and
the other reactions independent of it, checked numerically at the defaults.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import libsbml
import numpy as np

from ..constraints import NON_NEGATIVE, Interval
from ..errors import CartsimError
from ..model import ModelSpec
from ..params import ParamSpec
from .mathml import additive_terms, has_piecewise, symbols, to_python

ANY = Interval()


def _read(path: Path) -> libsbml.SBMLDocument:
    if not path.is_file():
        raise CartsimError(f"{path}: no such SBML file")
    doc = libsbml.readSBMLFromFile(str(path))
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        if e.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            msg = " ".join(e.getMessage().split())
            raise CartsimError(f"{path}: not valid SBML (line {e.getLine()}): {msg}")
    if doc.getModel() is None:
        raise CartsimError(f"{path}: the SBML document holds no model")
    props = libsbml.ConversionProperties()
    props.addOption("expandFunctionDefinitions", True)
    if doc.convert(props) != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise CartsimError(f"{path}: could not expand the function definitions")
    return doc


@dataclass
class _Model:
    """The pieces of the generated code, gathered from the SBML model."""

    state: list[str] = field(default_factory=list)  # SBML ids of the state variables, in order
    amount_of: dict[str, str] = field(default_factory=dict)  # id -> python expression of its math value
    params: list[ParamSpec] = field(default_factory=list)  # named by the SBML id each stands for
    rules: list[tuple[str, libsbml.ASTNode]] = field(default_factory=list)  # assignment rules, ordered
    reactions: list[str] = field(default_factory=list)
    stoich: list[list[float]] = field(default_factory=list)
    laws: list[tuple] = field(default_factory=list)  # (kind "law" | "rate", math, local names | compartment)
    initial: list[str] = field(default_factory=list)  # the parameter holding each state's initial amount
    initial_assign: dict = field(default_factory=dict)  # id -> math of its initial assignment

    @property
    def param_ids(self) -> list[str]:
        return [ps.name for ps in self.params]


def _refuse_unsupported(path: Path, m: libsbml.Model) -> None:
    if m.getNumEvents():
        raise CartsimError(f"{path}: SBML events are not supported (event {m.getEvent(0).getId()!r})")
    for r in m.getListOfRules():
        if r.isAlgebraic():
            raise CartsimError(f"{path}: SBML algebraic rules are not supported (rule {r.getMetaId() or r.getId()!r})")
    for c in m.getListOfCompartments():
        if not c.getConstant():
            raise CartsimError(f"{path}: compartment {c.getId()!r} is not constant; only constant sizes are supported")
    for r in m.getListOfReactions():
        if r.isSetFast() and r.getFast():
            raise CartsimError(f"{path}: reaction {r.getId()!r} is fast; fast reactions are not supported")
        if not r.isSetKineticLaw() or r.getKineticLaw().getMath() is None:
            raise CartsimError(f"{path}: reaction {r.getId()!r} has no kinetic law")
        for ref in (*r.getListOfReactants(), *r.getListOfProducts()):
            if ref.isSetStoichiometryMath() or (m.getLevel() == 3 and not ref.getConstant()):
                raise CartsimError(f"{path}: reaction {r.getId()!r}: variable stoichiometry of {ref.getSpecies()!r} "
                                   "is not supported")
    for node in _all_math(m):
        _refuse_delay(path, node)


def _all_math(m: libsbml.Model):
    for r in m.getListOfRules():
        yield r.getMath()
    for r in m.getListOfReactions():
        yield r.getKineticLaw().getMath()
    for a in m.getListOfInitialAssignments():
        yield a.getMath()


def _refuse_delay(path: Path, ast: libsbml.ASTNode) -> None:
    if ast.getType() == libsbml.AST_FUNCTION_DELAY:
        raise CartsimError(f"{path}: delay() is not supported ({libsbml.formulaToL3String(ast)})")
    for i in range(ast.getNumChildren()):
        _refuse_delay(path, ast.getChild(i))


def _order_rules(path: Path, rules: dict[str, libsbml.ASTNode]) -> list[tuple[str, libsbml.ASTNode]]:
    """Assignment rules in an order where each reads only what is already computed."""
    done: list[tuple[str, libsbml.ASTNode]] = []
    pending = dict(rules)
    while pending:
        ready = [v for v, ast in pending.items() if not (symbols(ast) & (set(pending) - {v}))]
        if not ready:
            raise CartsimError(f"{path}: assignment rules for {', '.join(pending)} depend on each other in a cycle")
        for v in ready:
            done.append((v, pending.pop(v)))
    return done


def _unit(m: libsbml.Model, units: str) -> str:
    if not units:
        return ""
    ud = m.getUnitDefinition(units)
    return libsbml.UnitDefinition.printUnits(ud, True) if ud is not None else units


def _gather(path: Path, m: libsbml.Model, tumour: str) -> _Model:
    g = _Model()
    src = f"SBML {path.name}"
    rule_of = {r.getVariable(): r for r in m.getListOfRules()}
    assigned = {v for v, r in rule_of.items() if r.isAssignment()}
    rated = {v for v, r in rule_of.items() if r.isRate()}
    init_assign = {a.getSymbol(): a.getMath() for a in m.getListOfInitialAssignments()}

    def add_param(pid: str, value: float, unit: str, doc: str, bounds: Interval = ANY) -> None:
        g.params.append(ParamSpec(pid, unit, doc, float(value), src, bounds))

    for c in m.getListOfCompartments():
        add_param(c.getId(), c.getSize() if c.isSetSize() else 1.0, _unit(m, c.getUnits()),
                  f"size of compartment {c.getId()}", Interval(lo=0.0, lo_open=True))
    for p in m.getListOfParameters():
        if p.getId() in assigned or p.getId() in rated:
            continue
        add_param(p.getId(), p.getValue() if p.isSetValue() else 0.0, _unit(m, p.getUnits()),
                  p.getName() or p.getId())
    species = {s.getId(): s for s in m.getListOfSpecies()}
    for s in m.getListOfSpecies():
        sid = s.getId()
        if sid in assigned:
            continue
        if s.getConstant() or (s.getBoundaryCondition() and sid not in rated and not _in_reactions(m, sid)):
            add_param(sid, _initial_amount(s, m), "", f"constant species {sid} (amount)", NON_NEGATIVE)
            continue
        g.state.append(sid)
    g.state += [p.getId() for p in m.getListOfParameters() if p.getId() in rated]
    if tumour not in g.state:
        accepted = ", ".join(g.state) or "(none)"
        raise CartsimError(f"{path}: tumour species {tumour!r} is not a species the model changes; accepted: "
                           f"{accepted}")
    g.initial_assign = {k: v for k, v in init_assign.items() if k in g.state}
    for sid in g.state:
        if sid in g.initial_assign:
            continue
        obj = species.get(sid) or m.getParameter(sid)
        value = _initial_amount(obj, m) if sid in species else (obj.getValue() if obj.isSetValue() else 0.0)
        add_param(f"{sid}_0", value, "", f"initial amount of {sid}", NON_NEGATIVE)
    g.rules = _order_rules(path, {v: rule_of[v].getMath() for v in assigned})
    read = sorted({x for ast in g.initial_assign.values() for x in symbols(ast)} & set(g.param_ids))
    g.initial = [f"{sid}_0" for sid in g.state] if not g.initial_assign else \
        [*read, *(f"{sid}_0" for sid in g.state if sid not in g.initial_assign)]

    names = set(g.param_ids)
    for r in m.getListOfReactions():
        row = [0.0] * len(g.state)
        for ref in r.getListOfReactants():
            if ref.getSpecies() in g.state:
                row[g.state.index(ref.getSpecies())] -= ref.getStoichiometry() if ref.isSetStoichiometry() else 1.0
        for ref in r.getListOfProducts():
            if ref.getSpecies() in g.state:
                row[g.state.index(ref.getSpecies())] += ref.getStoichiometry() if ref.isSetStoichiometry() else 1.0
        kl = r.getKineticLaw()
        local = {}
        for lp in (*kl.getListOfParameters(), *(kl.getListOfLocalParameters() if m.getLevel() == 3 else [])):
            pid = f"{r.getId()}_{lp.getId()}"
            if pid in names:
                continue
            add_param(pid, lp.getValue(), _unit(m, lp.getUnits()), f"local parameter {lp.getId()} of {r.getId()}")
            local[lp.getId()] = pid
            names.add(pid)
        if row[g.state.index(tumour)] != 0.0 and has_piecewise(kl.getMath()):
            raise CartsimError(f"{path}: reaction {r.getId()!r} moves the tumour {tumour!r} and its rate law uses "
                               "piecewise; a stochastic propensity must be one smooth expression")
        g.reactions.append(r.getId())
        g.stoich.append(row)
        g.laws.append(("law", kl.getMath(), local))
    for sid in g.state:
        if sid not in rated:
            continue
        ast = rule_of[sid].getMath()
        scale = _compartment_of(sid, species)
        if sid != tumour:
            row = [0.0] * len(g.state)
            row[g.state.index(sid)] = 1.0
            g.reactions.append(f"{sid}_rate")
            g.stoich.append(row)
            g.laws.append(("rate", ast, scale))
            continue
        if has_piecewise(ast):
            raise CartsimError(f"{path}: the rateRule for the tumour {sid!r} uses piecewise and cannot be split into "
                               "birth and death terms")
        for k, (sign, term) in enumerate(additive_terms(ast)):
            row = [0.0] * len(g.state)
            row[g.state.index(sid)] = sign
            g.reactions.append(f"{sid}_{'birth' if sign > 0 else 'death'}_{k + 1}")
            g.stoich.append(row)
            g.laws.append(("rate", term, scale))
    return g


def _in_reactions(m: libsbml.Model, sid: str) -> bool:
    for r in m.getListOfReactions():
        for ref in (*r.getListOfReactants(), *r.getListOfProducts()):
            if ref.getSpecies() == sid:
                return True
    return False


def _compartment_of(sid: str, species: dict) -> str | None:
    s = species.get(sid)
    if s is None or s.getHasOnlySubstanceUnits():
        return None
    return s.getCompartment()


def _initial_amount(s: libsbml.Species, m: libsbml.Model) -> float:
    if s.isSetInitialAmount():
        return s.getInitialAmount()
    if s.isSetInitialConcentration():
        c = m.getCompartment(s.getCompartment())
        return s.getInitialConcentration() * (c.getSize() if c is not None and c.isSetSize() else 1.0)
    return 0.0


def _source(path: Path, m: libsbml.Model, g: _Model) -> str:
    species = {s.getId(): s for s in m.getListOfSpecies()}

    def ref(sid: str) -> str:
        return f"s_{sid}"

    lines = [f'"""Generated by cartsim from {path.name}; do not edit."""', "import math", "", "import numpy as np",
             "from numba import njit", "", "from hybrid.integrator import RATES_SIG", "", "",
             "@njit(RATES_SIG, cache=True)", "def rates(t, x, p, out):"]
    for k, pid in enumerate(g.param_ids):
        lines.append(f"    s_{pid} = p[{k}]")
    for i, sid in enumerate(g.state):
        comp = _compartment_of(sid, species)
        lines.append(f"    s_{sid} = x[{i}]" + (f" / s_{comp}" if comp else ""))
    for var, ast in g.rules:
        lines.append(f"    s_{var} = {to_python(ast, ref, f'{path.name}: assignment rule for {var!r}')}")
    for j, (kind, ast, extra) in enumerate(g.laws):
        where = f"{path.name}: {'reaction' if kind == 'law' else 'rate rule of'} {g.reactions[j]!r}"
        if kind == "law":
            local = extra

            def lref(sid: str, local=local) -> str:
                return f"s_{local[sid]}" if sid in local else f"s_{sid}"

            lines.append(f"    out[{j}] = {to_python(ast, lref, where)}")
        else:
            expr = to_python(ast, ref, where)
            lines.append(f"    out[{j}] = {expr}" + (f" * s_{extra}" if extra else ""))
    # initial state (NumPy, vectorised over patients): initial assignments override the ID_0 parameters
    lines += ["", "", "def initial_state(P):"]
    for k, pid in enumerate(g.param_ids):
        lines.append(f"    s_{pid} = P[:, {k}]")
    init = g.initial_assign
    cols = []
    for sid in g.state:
        if sid in init:
            expr = to_python(init[sid], lambda s: f"s_{s}_0" if s in g.state else f"s_{s}",
                             f"{path.name}: initial assignment of {sid!r}", lib="np")
            comp = _compartment_of(sid, species)
            cols.append(f"np.broadcast_to({expr}" + (f" * s_{comp}" if comp else "") + ", (P.shape[0],))")
        else:
            cols.append(f"s_{sid}_0")
    lines.append(f"    return np.column_stack([{', '.join(cols)}])")
    return "\n".join(lines) + "\n"


def _cache_dir() -> Path:
    base = os.environ.get("CARTSIM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "cartsim")
    d = Path(base) / "sbml"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _compile(source: str):
    digest = hashlib.sha256(source.encode()).hexdigest()[:20]
    name = f"cartsim_sbml_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    path = _cache_dir() / f"{name}.py"
    if not path.exists() or path.read_text() != source:
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(source)
        tmp.replace(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _detect_linear(rates, S: np.ndarray, p: np.ndarray, x0: np.ndarray, ti: int) -> bool:
    """Whether the tumour (index ti) is a linear birth–death process acting on nothing: at several times and
    states, each tumour propensity is proportional to the tumour, and no other propensity depends on it."""
    touches = S[:, ti] != 0
    if (np.abs(S[touches, ti]) != 1.0).any() or (S[touches] != 0).sum(axis=1).max(initial=1) > 1:
        return False
    base = x0.copy()
    a1, a2, a0 = np.empty(S.shape[0]), np.empty(S.shape[0]), np.empty(S.shape[0])
    for t in (0.0, 1.7, 13.1, 90.0):
        for scale in (1.0, 0.5, 2.0):
            x = base * scale
            for b, out in ((1.0, a1), (7.5, a2), (0.0, a0)):
                x[ti] = b
                rates(t, x, p, out)
            if not (np.all(np.isfinite(a1)) and np.all(np.isfinite(a2))):
                return False
            lin = np.allclose(a2[touches], 7.5 * a1[touches], rtol=1e-9, atol=0.0) and np.all(a0[touches] == 0.0)
            other = np.allclose(a2[~touches], a0[~touches], rtol=1e-12, atol=0.0)
            if not (lin and other) or (a1[touches] < 0).any():
                return False
    return True


def load_sbml(path: str | Path, tumour: str, effector: str | None = None, lymphocytes: str | None = None,
              name: str | None = None) -> ModelSpec:
    """An SBML file as a model of the hybrid engine; ``tumour`` names the species that goes stochastic,
    ``effector`` the CAR T species (default: the first other species), ``lymphocytes`` the species that
    lymphodepletion resets (default: none). Errors name the culprit (:class:`CartsimError`)."""
    path = Path(path)
    doc = _read(path)
    m = doc.getModel()
    _refuse_unsupported(path, m)
    g = _gather(path, m, tumour)
    for role, sid in (("effector", effector), ("lymphocytes", lymphocytes)):
        if sid is not None and sid not in g.state:
            raise CartsimError(f"{path}: {role} species {sid!r} is not a species the model changes; accepted: "
                               f"{', '.join(g.state)}")
    if effector is None:
        others = [s for s in g.state if s != tumour]
        effector = others[0] if others else tumour
    module = _compile(_source(path, m, g))
    S = np.array(g.stoich, dtype=np.float64).reshape(len(g.reactions), len(g.state))
    P = np.array([[ps.default for ps in g.params]])
    x0 = module.initial_state(P)[0].astype(np.float64)
    p0 = P[0].copy()
    ti = g.state.index(tumour)
    a = np.empty(len(g.reactions))
    module.rates(0.0, x0.copy(), p0, a)
    for j, rname in enumerate(g.reactions):
        if S[j, ti] != 0 and a[j] < 0:
            raise CartsimError(f"{path}: the propensity of {rname!r}, which moves the tumour {tumour!r}, is negative "
                               f"({a[j]:.3g}) at the initial state; a stochastic reaction needs a non-negative rate "
                               "(write a rateRule as birth terms minus death terms)")
    linear = _detect_linear(module.rates, S, p0, x0, ti)
    tumour_reactions = [r for j, r in enumerate(g.reactions) if S[j, ti] != 0]
    return ModelSpec(
        name=name or f"sbml:{path.stem}",
        species=tuple(g.state),
        reactions=tuple(g.reactions),
        stoichiometry=S,
        rates=module.rates,
        params=tuple(g.params),
        stochastic=(tumour,),
        tumour=tumour,
        effector=effector,
        lymphocytes=lymphocytes,
        initial=tuple(g.initial),
        initial_state=module.initial_state if g.initial_assign else None,
        linear_tumour=linear,
        tumour_parents={r: tumour for r in tumour_reactions} if linear else {},
        doc=f"imported from {path.name} ({m.getName() or m.getId()})",
        sources=(str(path),),
    )
