"""Mechanistic non-response classes of a cohort ([nonresponse]): each share realised within its binomial error,
each class's parameter changed by its factor inside the plausible range, classes independent of chunking."""

import numpy as np
import pytest

from experiments.cohort.nonresponse import CLASSES, NonResponse
from experiments.cohort.sampling import sample_patients
from experiments.cohort.spec import revise, validate
from hybrid import get_model
from hybrid.errors import CartsimError

N = 20_000


def _spec(nonresponse, model="kimmel2021"):
    return validate({"kind": "cohort", "cohort": {"model": model, "preset": "kimmel2021", "n": N, "seed": 3},
                     "variability": {"v": 0.05}, "nonresponse": nonresponse}, "<test>")


def test_shares_are_realised_and_each_class_changes_its_parameter_by_its_factor():
    spec = _spec({"failed_expansion": 0.2, "antigen_low": 0.1, "antigen_low_factor": 0.2})
    plain = sample_patients(revise(_spec({}), n=N), 0, N)  # the same patients before the classes
    df = sample_patients(spec, 0, N)
    failed = ~np.isclose(df["K_C"], plain["K_C"])
    low = ~np.isclose(df["gamma_B"], plain["gamma_B"])
    for share, got in ((0.2, failed.mean()), (0.1, low.mean())):
        assert abs(got - share) < 4 * np.sqrt(share * (1 - share) / N)
    assert not (failed & low).any()  # one class per patient
    lo_kc = get_model("kimmel2021").param_specs["K_C"].plausible[0]
    assert np.allclose(df.loc[failed, "K_C"], np.maximum(0.1 * plain.loc[failed, "K_C"], lo_kc))
    assert np.allclose(df.loc[low, "gamma_B"], 0.2 * plain.loc[low, "gamma_B"])
    untouched = [c for c in df.columns if c not in ("K_C", "gamma_B")]
    assert df[untouched].equals(plain[untouched])


def test_classes_do_not_depend_on_chunking():
    spec = _spec({"failed_expansion": 0.3})
    whole = sample_patients(spec, 0, 3000)
    parts = [sample_patients(spec, a, a + 1000) for a in (0, 1000, 2000)]
    import pandas as pd

    assert pd.concat(parts, ignore_index=True).equals(whole)


def test_revise_records_the_classes_and_the_record_validates_back():
    spec = revise(_spec({}), nonresponse=NonResponse({"failed_expansion": 0.15}))
    assert spec.config["nonresponse"] == {"failed_expansion": 0.15, "failed_expansion_factor": CLASSES[
        "failed_expansion"][1]}
    again = validate(spec.config, "<again>")
    assert again.nonresponse == spec.nonresponse


@pytest.mark.parametrize("table, fragment", [
    ({"failed_expansion": 1.5}, "nonresponse.failed_expansion"),
    ({"failed_expansion": 0.6, "antigen_low": 0.6}, "at most 1"),
    ({"failed_expansion": [0.0, 0.5]}, "nonresponse.failed_expansion"),  # bounds only in a fit
    ({"antigen_low_factor": 2.0}, "antigen_low_factor"),
    ({"escape": 0.1}, "nonresponse.escape"),
])
def test_bad_classes_are_refused_naming_the_key(table, fragment):
    with pytest.raises(CartsimError, match=fragment.replace(".", r"\.")):
        _spec(table)


def test_a_class_needs_its_parameter_in_the_model():
    with pytest.raises(CartsimError, match="K_C"):
        validate({"kind": "cohort", "cohort": {"model": "cartmath", "n": 10},
                  "nonresponse": {"failed_expansion": 0.1}}, "<test>")
