"""Calibration of cartsim to clinical data: kinetics fits, virtual populations calibrated to a Kaplan–Meier
curve on the exact path, and per-patient posterior prediction. Front end: ``cartsim fit`` / ``cartsim predict``
(:mod:`experiments.cli.fit`)."""

from experiments.calibration.fit import fit_csv, run_fit
from experiments.calibration.predict import run_predict
from experiments.calibration.spec import FitSpec, PredictSpec, validate_fit, validate_predict

__all__ = ["FitSpec", "PredictSpec", "fit_csv", "run_fit", "run_predict", "validate_fit", "validate_predict"]
