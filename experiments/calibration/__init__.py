"""Calibration of cartsim to clinical data: kinetics fits, virtual populations calibrated to a Kaplan–Meier
curve on the exact path, and per-patient posterior prediction. Front end: ``cartsim fit`` / ``cartsim predict``
(:mod:`experiments.cli_fit`)."""

from .fit import fit_csv, run_fit
from .predict import run_predict
from .spec import FitSpec, PredictSpec, validate_fit, validate_predict

__all__ = ["FitSpec", "PredictSpec", "fit_csv", "run_fit", "run_predict", "validate_fit", "validate_predict"]
