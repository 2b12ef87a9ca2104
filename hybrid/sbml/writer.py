"""SBML out: a built-in model with its parameter values as a valid SBML Level 3 Version 2 file.

Species are amounts in cells (``item``, hasOnlySubstanceUnits) in one compartment of size 1, time in days;
each parameter carries its unit and, in its notes, its meaning and source. The rate laws are the model's
``rate_laws`` (SBML infix text written beside its jitted ``rates``; the export test simulates the file with
libroadrunner against the engine's mean field, which holds the two together)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import libsbml

from ..errors import CartsimError
from ..model import ModelSpec
from ..sbml.mathml import symbols

# cartsim unit text -> (SBML unit definition id, [(kind, exponent, multiplier)])
_UNITS = {
    "cells": ("item", None),
    "1": ("dimensionless", None),
    "day": ("day", [(libsbml.UNIT_KIND_SECOND, 1, 86400.0)]),
    "1/day": ("per_day", [(libsbml.UNIT_KIND_SECOND, -1, 86400.0)]),
    "1/cell": ("per_cell", [(libsbml.UNIT_KIND_ITEM, -1, 1.0)]),
    "1/(cell day)": ("per_cell_per_day", [(libsbml.UNIT_KIND_ITEM, -1, 1.0), (libsbml.UNIT_KIND_SECOND, -1, 86400.0)]),
    "cells/day": ("cells_per_day", [(libsbml.UNIT_KIND_ITEM, 1, 1.0), (libsbml.UNIT_KIND_SECOND, -1, 86400.0)]),
    "pg/mL": ("pg_per_ml", [(libsbml.UNIT_KIND_GRAM, 1, 1e-12), (libsbml.UNIT_KIND_LITRE, -1, 1e-3)]),
    "pg/mL/day": ("pg_per_ml_per_day", [(libsbml.UNIT_KIND_GRAM, 1, 1e-12), (libsbml.UNIT_KIND_LITRE, -1, 1e-3),
                                        (libsbml.UNIT_KIND_SECOND, -1, 86400.0)]),
}


def _check(code: int, what: str) -> None:
    if code != libsbml.LIBSBML_OPERATION_SUCCESS:
        raise CartsimError(f"SBML export: {what} failed ({libsbml.OperationReturnValue_toString(code)})")


def _unit_definitions(m: libsbml.Model) -> None:
    for _, (uid, parts) in _UNITS.items():
        if parts is None:
            continue
        ud = m.createUnitDefinition()
        ud.setId(uid)
        for kind, exponent, multiplier in parts:
            u = ud.createUnit()
            u.setKind(kind)
            u.setExponent(exponent)
            u.setScale(0)
            u.setMultiplier(multiplier)


def _notes(text: str) -> str:
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'<body xmlns="http://www.w3.org/1999/xhtml"><p>{safe}</p></body>'


def build_document(spec: ModelSpec, values: Mapping[str, float]) -> libsbml.SBMLDocument:
    """The SBML document of ``spec`` with parameter ``values`` (every parameter, cells and days)."""
    if not exportable(spec):
        raise CartsimError(f"model {spec.name} has no SBML rate laws to export (models that have: "
                           "cartsim models)")
    doc = libsbml.SBMLDocument(3, 2)
    m = doc.createModel()
    m.setId(spec.name)
    m.setName(spec.doc)
    if spec.sources:
        _check(m.setNotes(_notes("Sources: " + "; ".join(spec.sources))), "model notes")
    _unit_definitions(m)
    m.setTimeUnits("day")
    m.setSubstanceUnits("item")
    m.setExtentUnits("item")
    c = m.createCompartment()
    c.setId("body")
    c.setConstant(True)
    c.setSize(1.0)
    c.setSpatialDimensions(3)
    c.setUnits("dimensionless")
    for ps in spec.params:
        p = m.createParameter()
        p.setId(ps.name)
        p.setName(ps.doc)
        p.setConstant(True)
        p.setValue(float(values[ps.name]))
        if ps.unit in _UNITS:
            p.setUnits(_UNITS[ps.unit][0])
        _check(p.setNotes(_notes(f"{ps.doc} ({ps.unit or 'no unit'}). Source: {ps.source}")), f"notes of {ps.name}")
    for name in spec.breakpoints:  # the phase switch: a flag an event raises on the day
        flag = m.createParameter()
        flag.setId(f"after_{name}")
        flag.setConstant(False)
        flag.setValue(0.0)
        flag.setUnits("dimensionless")
        ev = m.createEvent()
        ev.setId(f"reach_{name}")
        ev.setUseValuesFromTriggerTime(True)
        trig = ev.createTrigger()
        trig.setInitialValue(False)
        trig.setPersistent(True)
        _check(trig.setMath(_parse(f"time >= {name}", f"trigger of {name}")), f"trigger of {name}")
        ea = ev.createEventAssignment()
        ea.setVariable(f"after_{name}")
        _check(ea.setMath(_parse("1", "event assignment")), f"event of {name}")
    for k, sp in enumerate(spec.species):
        s = m.createSpecies()
        s.setId(sp)
        s.setCompartment("body")
        s.setHasOnlySubstanceUnits(True)
        s.setBoundaryCondition(False)
        s.setConstant(False)
        s.setSubstanceUnits("item")
        formula = spec.initial_laws.get(sp) or (spec.initial[k] if spec.initial_state is None else None)
        if formula is None:
            raise CartsimError(f"model {spec.name}: no initial formula for species {sp!r}")
        ia = m.createInitialAssignment()
        ia.setSymbol(sp)
        _check(ia.setMath(_parse(formula, f"initial value of {sp}")), f"initial value of {sp}")
    for j, rname in enumerate(spec.reactions):
        r = m.createReaction()
        r.setId(rname)
        r.setReversible(False)
        math = _parse(spec.rate_laws[j], f"rate law of {rname}")
        moved = set()
        for i, sp in enumerate(spec.species):
            v = float(spec.stoichiometry[j, i])
            if v == 0:
                continue
            ref = r.createProduct() if v > 0 else r.createReactant()
            ref.setSpecies(sp)
            ref.setStoichiometry(abs(v))
            ref.setConstant(True)
            moved.add(sp)
        for sp in spec.species:
            if sp not in moved and sp in symbols(math):
                r.createModifier().setSpecies(sp)
        _check(r.createKineticLaw().setMath(math), f"kinetic law of {rname}")
    return doc


def _parse(formula: str, what: str) -> libsbml.ASTNode:
    ast = libsbml.parseL3Formula(formula)
    if ast is None:
        raise CartsimError(f"SBML export: cannot parse the {what}: {libsbml.getLastParseL3Error()}")
    return ast


def exportable(spec: ModelSpec) -> bool:
    """Whether ``spec`` carries the SBML rate laws an export needs."""
    return len(spec.rate_laws) == len(spec.reactions)


def export_sbml(spec: ModelSpec, path: str | Path, values: Mapping[str, float] | None = None) -> Path:
    """Write ``spec`` as SBML L3V2 to ``path`` with its first preset's parameter values, ``values`` (e.g. a
    :class:`hybrid.params.Parameters`) over them; libsbml's consistency check must pass (errors raise
    :class:`CartsimError`)."""
    values = {**spec.preset(None), **dict(values or {})}
    unknown = [n for n in values if n not in spec.param_specs]
    if unknown:
        raise CartsimError(f"SBML export of {spec.name}: unknown parameter {unknown[0]!r}; accepted: "
                           f"{', '.join(spec.param_names)}")
    doc = build_document(spec, {n: spec.param_specs[n].check(values[n]) for n in spec.param_names})
    doc.checkConsistency()  # unit consistency only warns (ln of a ratio, piecewise in time): errors fail
    errors = [doc.getError(i) for i in range(doc.getNumErrors())
              if doc.getError(i).getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if errors:
        raise CartsimError(f"SBML export of {spec.name}: {' '.join(errors[0].getMessage().split())}")
    path = Path(path)
    if not libsbml.writeSBMLToFile(doc, str(path)):
        raise CartsimError(f"{path}: cannot write the SBML file")
    return path
