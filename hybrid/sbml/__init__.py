"""SBML in and out: import a researcher's SBML model as a hybrid model (:func:`load_sbml`), export a built-in
model as SBML Level 3 (:func:`export_sbml`). Uses python-libsbml."""

from __future__ import annotations

from ..sbml.reader import load_sbml
from ..sbml.writer import export_sbml, exportable

__all__ = ["export_sbml", "exportable", "load_sbml"]
