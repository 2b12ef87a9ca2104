"""Observed data for calibration, read from CSV and validated before any fitting starts.

- Kinetics, per patient: ``patient,day,car_t_per_ul`` (cells/µL of blood) and optionally ``lloq``: a row whose
  count is missing or below its ``lloq`` is censored (known only to lie below the limit of quantification),
  not dropped.
- Kinetics, summary: ``day,median,q25,q75`` (cells/µL): the population's median and interquartile range,
  optionally ``n`` (patients behind the row).
- PFS: a Kaplan–Meier curve as points, ``months`` or ``days`` and ``pfs`` (fraction, or percent), optionally
  ``n_at_risk``.

Every error names the file, the column or row, and what is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hybrid.errors import CartsimError

from ..summary import DAYS_PER_MONTH


@dataclass(frozen=True)
class PatientKinetics:
    """Per-patient CAR T counts. ``value`` in cells/µL (the LLOQ where ``censored``), ``day`` in days."""

    patient: np.ndarray
    day: np.ndarray
    value: np.ndarray
    censored: np.ndarray

    @property
    def patients(self) -> list[str]:
        return list(dict.fromkeys(self.patient.tolist()))

    def of(self, patient: str) -> PatientKinetics:
        m = self.patient == patient
        return PatientKinetics(self.patient[m], self.day[m], self.value[m], self.censored[m])


@dataclass(frozen=True)
class SummaryKinetics:
    """Population CAR T counts: median and quartiles (cells/µL) at each day."""

    day: np.ndarray
    median: np.ndarray
    q25: np.ndarray
    q75: np.ndarray
    n: np.ndarray | None = None
    """Patients behind each row (optional column ``n``)."""


@dataclass(frozen=True)
class KaplanMeier:
    """An observed PFS curve: days, PFS fraction, and the number at risk when given (else None)."""

    days: np.ndarray
    pfs: np.ndarray
    n_at_risk: np.ndarray | None


def _read(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise CartsimError(f"{path}: data file not found")
    if path.is_dir():
        raise CartsimError(f"{path}: is a directory, expected a CSV file")
    try:
        df = pd.read_csv(path, skipinitialspace=True, comment="#")
    except pd.errors.EmptyDataError:
        raise CartsimError(f"{path}: the file is empty") from None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise CartsimError(f"{path}: cannot read CSV: {exc}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if df.empty:
        raise CartsimError(f"{path}: no data rows")
    return df


def _numeric(path: Path, df: pd.DataFrame, col: str, allow_nan: bool = False) -> np.ndarray:
    x = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(x) if not allow_nan else np.isinf(x)
    raw_bad = bad | (np.isnan(x) & df[col].notna().to_numpy()) if allow_nan else bad
    if raw_bad.any():
        k = int(np.argmax(raw_bad))
        raise CartsimError(f"{path}: column {col!r}, row {k + 2}: {df[col].iloc[k]!r} is not a finite number")
    return x


def _need(path: Path, df: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise CartsimError(f"{path}: {what} needs columns {', '.join(cols)}; missing {', '.join(missing)} "
                           f"(found {', '.join(df.columns)})")


def load_kinetics(path: str | Path) -> PatientKinetics | SummaryKinetics:
    """Per-patient or summary kinetics, told apart by their columns."""
    path = Path(path)
    df = _read(path)
    if "median" in df.columns or "q25" in df.columns:
        _need(path, df, ("day", "median", "q25", "q75"), "summary kinetics")
        day, med, q25, q75 = (_numeric(path, df, c) for c in ("day", "median", "q25", "q75"))
        for name, x in (("median", med), ("q25", q25), ("q75", q75)):
            if (x <= 0).any():
                raise CartsimError(f"{path}: column {name!r}: counts must be > 0 cells/µL (a log-scale fit), "
                                   f"got {x[x <= 0][0]:g}")
        if not (np.all(q25 <= med) and np.all(med <= q75)):
            raise CartsimError(f"{path}: each row needs q25 <= median <= q75")
        _increasing(path, day, "day")
        n = None
        if "n" in df.columns:
            n = _numeric(path, df, "n")
            if (n < 1).any():
                raise CartsimError(f"{path}: column 'n': patients per row must be >= 1")
        return SummaryKinetics(day, med, q25, q75, n)
    _need(path, df, ("patient", "day", "car_t_per_ul"), "per-patient kinetics")
    patient = df["patient"].astype(str).str.strip().to_numpy()
    day = _numeric(path, df, "day")
    has_lloq = "lloq" in df.columns
    value = _numeric(path, df, "car_t_per_ul", allow_nan=has_lloq)
    censored = np.zeros(len(df), dtype=bool)
    if has_lloq:
        lloq = _numeric(path, df, "lloq", allow_nan=True)
        below = np.isnan(value) | (np.isfinite(lloq) & (value < np.nan_to_num(lloq, nan=-np.inf)))
        if (below & np.isnan(lloq)).any():
            k = int(np.argmax(below & np.isnan(lloq)))
            raise CartsimError(f"{path}: row {k + 2}: a missing count needs its lloq (cells/µL)")
        censored = below
        value = np.where(below, lloq, value)
    if (value < 0).any() or (value[~censored] <= 0).any() or (censored & (value <= 0)).any():
        k = int(np.argmax(value <= 0))
        raise CartsimError(f"{path}: column 'car_t_per_ul', row {k + 2}: counts must be > 0 cells/µL (mark "
                           f"values below quantification with an lloq column), got {value[k]:g}")
    if (day < 0).any():
        raise CartsimError(f"{path}: column 'day': days must be >= 0")
    for pid in dict.fromkeys(patient.tolist()):
        _increasing(path, day[patient == pid], f"day (patient {pid})")
    return PatientKinetics(patient, day, value, censored)


def _increasing(path: Path, x: np.ndarray, what: str) -> None:
    if np.any(np.diff(x) <= 0):
        k = int(np.argmax(np.diff(x) <= 0))
        raise CartsimError(f"{path}: {what}: values must be strictly increasing (out of order at {x[k + 1]:g} "
                           f"after {x[k]:g})")


def load_km(path: str | Path) -> KaplanMeier:
    """A Kaplan–Meier curve given as points; validated (times increasing, PFS in [0, 1] and non-increasing)."""
    path = Path(path)
    df = _read(path)
    if "pfs" not in df.columns or not ({"days", "months"} & set(df.columns)):
        raise CartsimError(f"{path}: a PFS curve needs columns 'days' or 'months', and 'pfs' (found "
                           f"{', '.join(df.columns)})")
    t = _numeric(path, df, "days") if "days" in df.columns else _numeric(path, df, "months") * DAYS_PER_MONTH
    pfs = _numeric(path, df, "pfs")
    if pfs.max() > 1:
        pfs = pfs / 100.0
    if (pfs < 0).any() or (pfs > 1).any():
        raise CartsimError(f"{path}: column 'pfs': values must be fractions in [0, 1] or percent in [0, 100]")
    if (t < 0).any():
        raise CartsimError(f"{path}: times must be >= 0")
    _increasing(path, t, "time")
    if np.any(np.diff(pfs) > 1e-12):
        k = int(np.argmax(np.diff(pfs) > 1e-12))
        raise CartsimError(f"{path}: column 'pfs': a Kaplan-Meier curve cannot increase ({pfs[k]:g} then "
                           f"{pfs[k + 1]:g})")
    n_at_risk = None
    if "n_at_risk" in df.columns:
        n_at_risk = _numeric(path, df, "n_at_risk")
        if (n_at_risk < 0).any() or np.any(np.diff(n_at_risk) > 0):
            raise CartsimError(f"{path}: column 'n_at_risk': numbers must be >= 0 and non-increasing")
    return KaplanMeier(t, pfs, n_at_risk)
