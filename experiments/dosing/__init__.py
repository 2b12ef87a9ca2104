"""Dosing: dose-response and dose-toxicity over tumour burden and schedule (``kind = "dosing"`` in
``cartsim run``), and a personalised dose for one patient (``cartsim dose``), on the exact path where the model
allows it. Product dose ranges in :mod:`.products`, schedules in :mod:`.schedules`, the one dose routine in
:mod:`.evaluate`."""

from experiments.dosing.grid import run_dosing
from experiments.dosing.personal import run_dose
from experiments.dosing.spec import DoseSpec, DosingSpec, validate_dose, validate_dosing

__all__ = ["DoseSpec", "DosingSpec", "run_dose", "run_dosing", "validate_dose", "validate_dosing"]
