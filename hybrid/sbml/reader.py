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
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import libsbml
import numpy as np

from ..constraints import NON_NEGATIVE, Interval
from ..errors import CartsimError
from ..inputs import quote, read_text_input
from ..model import ModelSpec
from ..paramspec import ParamSpec
from ..sbml.mathml import additive_terms, has_piecewise, symbols, to_python

ANY = Interval()
_SID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PART_LINES = 64  # statements per compiled part of a large model's rate function
MAX_SIZE = 2000
"""Most species, and most reactions, an imported model may have: the engine holds a dense stoichiometry
matrix and integrates every reaction's hazard, so 2000 x 2000 (32 MB) is the largest it carries."""


def _read(path: Path) -> libsbml.SBMLDocument:
    doc = libsbml.readSBMLFromString(read_text_input(path, "SBML file"))
    for i in range(doc.getNumErrors()):
        e = doc.getError(i)
        if e.getSeverity() >= libsbml.LIBSBML_SEV_ERROR:
            msg = " ".join(e.getMessage().split())
            raise CartsimError(f"{path}: not valid SBML (line {e.getLine()}): {msg[:300]}")
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
    stoich: list[dict[int, float]] = field(default_factory=list)  # per reaction: state index -> change
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
    """Assignment rules in an order where each reads only what is already computed (Kahn's algorithm: linear
    in the number of rules and the symbols they read)."""
    reads = {v: symbols(ast) & rules.keys() - {v} for v, ast in rules.items()}
    readers: dict[str, list[str]] = {v: [] for v in rules}
    for v, deps in reads.items():
        for d in deps:
            readers[d].append(v)
    waiting = {v: len(deps) for v, deps in reads.items()}
    ready = [v for v, k in waiting.items() if k == 0]
    done: list[tuple[str, libsbml.ASTNode]] = []
    while ready:
        v = ready.pop()
        done.append((v, rules[v]))
        for r in readers[v]:
            waiting[r] -= 1
            if waiting[r] == 0:
                ready.append(r)
    if len(done) < len(rules):
        cycle = [quote(v) for v, k in waiting.items() if k > 0][:5]
        raise CartsimError(f"{path}: assignment rules for {', '.join(cycle)} depend on each other in a cycle")
    return done


def _check_id(path: Path, what: str, sid: str) -> str:
    """``sid`` if it follows the SBML SId grammar (letter or underscore, then letters, digits, underscores)."""
    if not isinstance(sid, str) or not _SID.fullmatch(sid):
        raise CartsimError(f"{path}: {what} id {quote(sid)} is not a valid SBML identifier (SId: a letter or _ "
                           "followed by letters, digits or _)")
    return sid


def _unit(m: libsbml.Model, units: str) -> str:
    if not units:
        return ""
    ud = m.getUnitDefinition(units)
    return libsbml.UnitDefinition.printUnits(ud, True) if ud is not None else units


def _gather(path: Path, m: libsbml.Model, tumour: str) -> _Model:
    g = _Model()
    src = f"SBML {path.name}"
    rule_of = {_check_id(path, "rule variable", r.getVariable()): r for r in m.getListOfRules()}
    assigned = {v for v, r in rule_of.items() if r.isAssignment()}
    rated = {v for v, r in rule_of.items() if r.isRate()}
    init_assign = {_check_id(path, "initial assignment", a.getSymbol()): a.getMath()
                   for a in m.getListOfInitialAssignments()}
    for what, count in (("species", m.getNumSpecies()), ("reactions", m.getNumReactions() + len(rule_of))):
        if count > MAX_SIZE:
            raise CartsimError(f"{path}: {count:,} {what}; cartsim imports models of at most {MAX_SIZE:,} species "
                               f"and {MAX_SIZE:,} reactions and rate rules (the engine's stoichiometry is dense)")
    in_reactions = {ref.getSpecies() for r in m.getListOfReactions()
                    for ref in (*r.getListOfReactants(), *r.getListOfProducts())}

    def add_param(pid: str, value: float, unit: str, doc: str, bounds: Interval = ANY) -> None:
        g.params.append(ParamSpec(pid, unit, doc, float(value), src, bounds))

    for c in m.getListOfCompartments():
        add_param(_check_id(path, "compartment", c.getId()), c.getSize() if c.isSetSize() else 1.0,
                  _unit(m, c.getUnits()), f"size of compartment {c.getId()}", Interval(lo=0.0, lo_open=True))
    for p in m.getListOfParameters():
        pid = _check_id(path, "parameter", p.getId())
        if pid in assigned or pid in rated:
            continue
        add_param(pid, p.getValue() if p.isSetValue() else 0.0, _unit(m, p.getUnits()), p.getName()[:200] or pid)
    species = {_check_id(path, "species", s.getId()): s for s in m.getListOfSpecies()}
    for sid, s in species.items():
        if sid in assigned:
            continue
        if s.getConstant() or (s.getBoundaryCondition() and sid not in rated and sid not in in_reactions):
            add_param(sid, _initial_amount(s, m), "", f"constant species {sid} (amount)", NON_NEGATIVE)
            continue
        g.state.append(sid)
    g.state += [p.getId() for p in m.getListOfParameters() if p.getId() in rated]
    index = {sid: i for i, sid in enumerate(g.state)}
    if tumour not in index:
        accepted = ", ".join(g.state[:20]) + (", ..." if len(g.state) > 20 else "") or "(none)"
        raise CartsimError(f"{path}: tumour species {quote(tumour)} is not a species the model changes; accepted: "
                           f"{accepted}")
    ti = index[tumour]
    g.initial_assign = {k: v for k, v in init_assign.items() if k in index}
    for sid in g.state:
        if sid in g.initial_assign:
            continue
        obj = species.get(sid) or m.getParameter(sid)
        value = _initial_amount(obj, m) if sid in species else (obj.getValue() if obj.isSetValue() else 0.0)
        add_param(f"{sid}_0", value, "", f"initial amount of {sid}", NON_NEGATIVE)
    g.rules = _order_rules(path, {v: rule_of[v].getMath() for v in assigned})
    names = set(g.param_ids)
    read = sorted({x for ast in g.initial_assign.values() for x in symbols(ast)} & names)
    g.initial = [f"{sid}_0" for sid in g.state] if not g.initial_assign else \
        [*read, *(f"{sid}_0" for sid in g.state if sid not in g.initial_assign)]

    for r in m.getListOfReactions():
        rid = _check_id(path, "reaction", r.getId())
        row: dict[int, float] = {}
        for sign, refs in ((-1.0, r.getListOfReactants()), (1.0, r.getListOfProducts())):
            for ref in refs:
                k = index.get(ref.getSpecies())
                if k is not None:
                    row[k] = row.get(k, 0.0) + sign * (ref.getStoichiometry() if ref.isSetStoichiometry() else 1.0)
        kl = r.getKineticLaw()
        local = {}
        for lp in (*kl.getListOfParameters(), *(kl.getListOfLocalParameters() if m.getLevel() == 3 else [])):
            pid = f"{rid}_{_check_id(path, 'local parameter', lp.getId())}"
            if pid in names:
                continue
            add_param(pid, lp.getValue(), _unit(m, lp.getUnits()), f"local parameter {lp.getId()} of {rid}")
            local[lp.getId()] = pid
            names.add(pid)
        if row.get(ti, 0.0) != 0.0 and has_piecewise(kl.getMath()):
            raise CartsimError(f"{path}: reaction {rid!r} moves the tumour {tumour!r} and its rate law uses "
                               "piecewise; a stochastic propensity must be one smooth expression")
        g.reactions.append(rid)
        g.stoich.append(row)
        g.laws.append(("law", kl.getMath(), local))
    for sid in g.state:
        if sid not in rated:
            continue
        ast = rule_of[sid].getMath()
        scale = _compartment_of(sid, species)
        if sid != tumour:
            g.reactions.append(f"{sid}_rate")
            g.stoich.append({index[sid]: 1.0})
            g.laws.append(("rate", ast, scale))
            continue
        if has_piecewise(ast):
            raise CartsimError(f"{path}: the rateRule for the tumour {sid!r} uses piecewise and cannot be split into "
                               "birth and death terms")
        for k, (sign, term) in enumerate(additive_terms(ast)):
            g.reactions.append(f"{sid}_{'birth' if sign > 0 else 'death'}_{k + 1}")
            g.stoich.append({ti: sign})
            g.laws.append(("rate", term, scale))
    return g


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
    """The generated module's text. It is built only from names this importer makes (``p[3]`` for the fourth
    parameter, ``x[0]`` for the first state, ``w2`` for the third assignment rule), numbers it formats itself and
    the operators of :mod:`.mathml`: no identifier, string, file name or path from the input reaches the code, so
    a hostile file cannot run anything. An SBML id the math reads is looked up in the importer's table; one that
    is not there is refused by name."""
    species = {s.getId(): s for s in m.getListOfSpecies()}
    pidx = {pid: k for k, pid in enumerate(g.param_ids)}
    # parameters and states are read from the arrays where they are used (no local per symbol: Numba's
    # compile time grows faster than linearly with a function's locals)
    table = {pid: f"p[{k}]" for pid, k in pidx.items()}
    for i, sid in enumerate(g.state):
        comp = _compartment_of(sid, species)
        table[sid] = f"(x[{i}] / p[{pidx[comp]}])" if comp else f"x[{i}]"
    split = len(g.rules) + len(g.laws) > _PART_LINES
    table.update({var: (f"w[{j}]" if split else f"w{j}") for j, (var, _) in enumerate(g.rules)})

    def lookup(where: str, local: dict[str, str] | None = None):
        def name(sid: str) -> str:
            if local and sid in local:
                return table[local[sid]]
            if sid not in table:
                raise CartsimError(f"{path}: {where}: {quote(sid)} is not defined in the model (no species, "
                                   "parameter, compartment or assignment rule has that id)")
            return table[sid]
        return name

    body = []
    for var, ast in g.rules:
        where = f"assignment rule for {var!r}"
        body.append(f"{table[var]} = {to_python(ast, lookup(where), where)}")
    for j, (kind, ast, extra) in enumerate(g.laws):
        where = f"{'reaction' if kind == 'law' else 'rate rule of'} {g.reactions[j]!r}"
        if kind == "law":
            body.append(f"out[{j}] = {to_python(ast, lookup(where, extra), where)}")
        else:
            expr = to_python(ast, lookup(where), where)
            body.append(f"out[{j}] = {expr}" + (f" * p[{pidx[extra]}]" if extra else ""))
    lines = ['"""Generated by cartsim from an SBML model; do not edit."""', "import math", "", "import numpy as np",
             "from numba import njit, types", "", "from hybrid.integrator import RATES_SIG", "",
             "_PART = types.void(types.float64, *([types.float64[::1]] * 4))", ""]
    if not split:
        lines += ["", '@njit(RATES_SIG, cache=True, error_model="numpy")', "def rates(t, x, p, out):"]
        lines += [f"    {b}" for b in body]
    else:
        # Numba's compile time grows with the square of a function's size: a large model is compiled as parts
        # of _PART_LINES statements each (rules first, in order, through the scratch array w)
        parts = [body[i:i + _PART_LINES] for i in range(0, len(body), _PART_LINES)]
        for k, part in enumerate(parts):
            lines += ["", '@njit(_PART, cache=True, error_model="numpy")', f"def _part{k}(t, x, p, w, out):"]
            lines += [f"    {b}" for b in part]
        lines += ["", "", '@njit(RATES_SIG, cache=True, error_model="numpy")', "def rates(t, x, p, out):",
                  f"    w = np.empty({max(len(g.rules), 1)})"]
        lines += [f"    _part{k}(t, x, p, w, out)" for k in range(len(parts))]
    # initial state (NumPy, vectorised over patients): initial assignments override the ID_0 parameters
    lines += ["", "", "def initial_state(P):"]
    init_table = {pid: f"P[:, {k}]" for pid, k in pidx.items()}
    init_table.update({sid: f"P[:, {pidx[f'{sid}_0']}]" for sid in g.state if f"{sid}_0" in pidx})
    cols = []
    for sid in g.state:
        if sid in g.initial_assign:
            where = f"initial assignment of {sid!r}"

            def iname(x: str, where=where) -> str:
                if x not in init_table:
                    raise CartsimError(f"{path}: {where}: {quote(x)} is not a parameter, compartment or initial "
                                       "amount of the model")
                return init_table[x]

            expr = to_python(g.initial_assign[sid], iname, where, lib="np")
            comp = _compartment_of(sid, species)
            cols.append(f"np.broadcast_to({expr}" + (f" * P[:, {pidx[comp]}]" if comp else "") + ", (P.shape[0],))")
        else:
            cols.append(init_table[sid])
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
    S = np.zeros((len(g.reactions), len(g.state)))
    for j, row in enumerate(g.stoich):
        for i, v in row.items():
            S[j, i] = v
    P = np.array([[ps.default for ps in g.params]])
    with np.errstate(all="ignore"):
        x0 = module.initial_state(P)[0].astype(np.float64)
    for i in np.flatnonzero(~np.isfinite(x0)):
        raise CartsimError(f"{path}: the initial amount of {g.state[i]!r} is {x0[i]} (a division by zero or an "
                           "infinite value in its initial assignment)")
    p0 = P[0].copy()
    ti = g.state.index(tumour)
    a = np.empty(len(g.reactions))
    module.rates(0.0, x0.copy(), p0, a)
    for j in np.flatnonzero(~np.isfinite(a)):
        raise CartsimError(f"{path}: the rate of {g.reactions[j]!r} is {a[j]} at the initial state (a division by "
                           "zero, a logarithm of 0 or an overflow in its rate law)")
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
