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

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hybrid.errors import CartsimError
from hybrid.inputs import quote, read_input
from hybrid.units import DAYS_PER_MONTH


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
    raw = read_input(path, "data file")
    try:
        df = pd.read_csv(io.BytesIO(raw), skipinitialspace=True, comment="#", dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise CartsimError(f"{path}: the file is empty") from None
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        # pandas' messages give line numbers, never the file's text
        raise CartsimError(f"{path}: cannot read CSV: {' '.join(str(exc).split())[:200]}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    if df.empty:
        raise CartsimError(f"{path}: no data rows")
    return df


def _numeric(path: Path, df: pd.DataFrame, col: str, allow_nan: bool = False) -> np.ndarray:
    """Column ``col`` as floats; with ``allow_nan`` an empty cell is NaN (a missing value), any other text that
    is not a finite number is refused naming its row."""
    text = df[col].str.strip()
    empty = (text == "").to_numpy()
    x = pd.to_numeric(text.where(~empty), errors="coerce").to_numpy(float)
    bad = ~np.isfinite(x) & ~(empty if allow_nan else False)
    if bad.any():
        k = int(np.argmax(bad))
        raise CartsimError(f"{path}: column {col!r}, row {k + 2}: {quote(df[col].iloc[k])} is not a finite number")
    return x


def _need(path: Path, df: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise CartsimError(f"{path}: {what} needs columns {', '.join(cols)}; missing {', '.join(missing)} "
                           f"({_header(df)})")


def _header(df: pd.DataFrame) -> str:
    """What the header held, without quoting the file: a data file may be anything a path points at."""
    return f"the first line names {len(df.columns)} column{'s' if len(df.columns) != 1 else ''}"


def load_kinetics(path: str | Path, max_days: float | None = None) -> PatientKinetics | SummaryKinetics:
    """Per-patient or summary kinetics, told apart by their columns; no day beyond ``max_days`` (the
    follow-up, with 1% of slack). Patient ids are text as written (``01`` and ``1`` are two patients)."""
    path = Path(path)
    df = _read(path)
    if "median" in df.columns or "q25" in df.columns:
        _need(path, df, ("day", "median", "q25", "q75"), "summary kinetics")
        day, med, q25, q75 = (_numeric(path, df, c) for c in ("day", "median", "q25", "q75"))
        _within_follow_up(path, df, "day", day, max_days)
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
    patient = df["patient"].str.strip().to_numpy(dtype=object)
    if (patient == "").any():
        raise CartsimError(f"{path}: column 'patient', row {int(np.argmax(patient == '')) + 2}: empty patient id")
    day = _numeric(path, df, "day")
    _within_follow_up(path, df, "day", day, max_days)
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
    order = np.lexsort((np.arange(len(day)), patient.astype(str)))  # by patient, file order within one
    same = patient[order][1:] == patient[order][:-1]
    bad = same & (np.diff(day[order]) <= 0)
    if bad.any():
        k = int(np.argmax(bad))
        raise CartsimError(f"{path}: day (patient {quote(patient[order][k])}): values must be strictly increasing "
                           f"(out of order at {day[order][k + 1]:g} after {day[order][k]:g})")
    return PatientKinetics(patient, day, value, censored)


def _within_follow_up(path: Path, df: pd.DataFrame, col: str, days: np.ndarray, max_days: float | None) -> None:
    """No time (``days``, read from column ``col``) beyond the follow-up ``max_days``, with 1% of slack: a curve
    read to "24 months" (730.5 days) belongs to a 730-day follow-up."""
    if max_days is None or not (days > max_days * 1.01).any():
        return
    k = int(np.argmax(days > max_days * 1.01))
    raise CartsimError(f"{path}: row {k + 2}: {col} {df[col].iloc[k].strip()} ({days[k]:g} days) is beyond the "
                       f"follow-up of {max_days:g} days; shorten the data or lengthen cohort.follow_up_days")


def _increasing(path: Path, x: np.ndarray, what: str) -> None:
    if np.any(np.diff(x) <= 0):
        k = int(np.argmax(np.diff(x) <= 0))
        raise CartsimError(f"{path}: {what}: values must be strictly increasing (out of order at {x[k + 1]:g} "
                           f"after {x[k]:g})")


def load_km(path: str | Path, max_days: float | None = None) -> KaplanMeier:
    """A Kaplan–Meier curve given as points, as curves are digitised: a time column ``days`` or ``months`` and
    ``pfs`` (fractions in [0, 1]) or ``pfs_percent`` (percent), optionally ``n_at_risk``. Validated: times in
    order (a first row at time 0 is the curve's start, PFS 1; two rows at one time are a vertical step, read as
    its foot), PFS non-increasing, and no time beyond ``max_days`` (the follow-up; 1% of slack), naming the
    row."""
    path = Path(path)
    df = _read(path)
    pcol = "pfs" if "pfs" in df.columns else "pfs_percent" if "pfs_percent" in df.columns else None
    if pcol is None or not ({"days", "months"} & set(df.columns)):
        raise CartsimError(f"{path}: a PFS curve needs columns 'days' or 'months', and 'pfs' (fractions) or "
                           f"'pfs_percent' ({_header(df)})")
    unit = "days" if "days" in df.columns else "months"
    t = _numeric(path, df, unit) * (1.0 if unit == "days" else DAYS_PER_MONTH)
    pfs = _numeric(path, df, pcol)
    if pcol == "pfs_percent":
        pfs = pfs / 100.0
    elif pfs.max() > 1:
        k = int(np.argmax(pfs > 1))
        raise CartsimError(f"{path}: column 'pfs', row {k + 2}: {pfs[k]:g} is above 1; give fractions in [0, 1], "
                           "or name the column 'pfs_percent' for percent")
    if (pfs < 0).any() or (pfs > 1).any():
        raise CartsimError(f"{path}: column {pcol!r}: values must lie in [0, 1] (fractions) or [0, 100] (percent)")
    if (t < 0).any():
        raise CartsimError(f"{path}: times must be >= 0")
    _within_follow_up(path, df, unit, t, max_days)
    if t[0] == 0.0 and pfs[0] < 0.99:
        raise CartsimError(f"{path}: row 2: a Kaplan-Meier curve starts at PFS 1 at time 0, got {pfs[0]:g}")
    if np.any(np.diff(t) < 0):
        k = int(np.argmax(np.diff(t) < 0))
        raise CartsimError(f"{path}: {unit}: rows {k + 2} and {k + 3} are out of order ({t[k + 1]:g} after "
                           f"{t[k]:g} days)")
    if np.any(np.diff(pfs) > 1e-12):
        k = int(np.argmax(np.diff(pfs) > 1e-12))
        raise CartsimError(f"{path}: column {pcol!r}: a Kaplan-Meier curve cannot increase ({pfs[k]:g} then "
                           f"{pfs[k + 1]:g})")
    n_at_risk = None
    if "n_at_risk" in df.columns:
        n_at_risk = _numeric(path, df, "n_at_risk")
        if (n_at_risk < 0).any() or np.any(np.diff(n_at_risk) > 0):
            raise CartsimError(f"{path}: column 'n_at_risk': numbers must be >= 0 and non-increasing")
    # a digitised vertical step gives two rows at one time, its top and its foot: the curve there is the foot
    # (Kaplan-Meier curves are right-continuous)
    last = np.r_[np.diff(t) > 0, True]
    return KaplanMeier(t[last], pfs[last], None if n_at_risk is None else n_at_risk[last])
