"""Input is data, never code: hostile SBML files, file names and data paths (issue 20, items 1-4)."""

from pathlib import Path

import pytest

from hybrid.sbml import export_sbml
from hybrid.sbml.reader import _cache_dir

MARKER = "pwned"


@pytest.fixture
def kimmel_xml(tmp_path) -> str:
    return Path(export_sbml("kimmel2021", tmp_path / "k.xml")).read_text()


def _with_ci(text: str, payload: str) -> str:
    """The exported Kimmel model with its first ``<ci> B </ci>`` replaced by ``payload``."""
    i = text.index("<ci> B </ci>")
    return text[:i] + f"<ci>{payload}</ci>" + text[i + len("<ci> B </ci>"):]


def _generated_sources() -> dict[Path, str]:
    return {p: p.read_text() for p in _cache_dir().glob("cartsim_sbml_*.py")}


@pytest.mark.parametrize("payload", [
    f'B)\nopen("{MARKER}","w").write("{MARKER}")\ndef _z():\n    return (1',
    f' B + __import__("os").system("touch {MARKER}")',
    f"B;open('{MARKER}','w')",
])
def test_code_in_a_kinetic_law_never_runs(payload, kimmel_xml, tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.xml"
    evil.write_text(_with_ci(kimmel_xml, payload))
    before = _generated_sources()
    status, out, err = cli(["patient", "--sbml", evil, "--tumour", "B"])
    assert status == 2 and "is not defined in the model" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / MARKER).exists()
    for path, text in _generated_sources().items():  # nothing of the payload reached any generated module
        assert path in before or ("open" not in text and "__import__" not in text and MARKER not in text)


def test_code_in_a_file_name_never_runs(kimmel_xml, tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    name = f'm""";open("{MARKER}","w").write("x");"""n.xml'
    (tmp_path / name).write_text(kimmel_xml)
    status, out, _ = cli(["trajectory", "--sbml", tmp_path / name, "--tumour", "B", "--t-end", "2"])
    assert status == 0 and out.startswith("t_days")
    assert not (tmp_path / MARKER).exists()
    for text in _generated_sources().values():
        assert MARKER not in text and '"""n' not in text


def test_generated_code_holds_only_the_importers_names(tmp_path):
    """The curated model's ids (Normal_T_cells, ...) appear nowhere in its generated module."""
    from hybrid.sbml import load_sbml
    from hybrid.sbml.reader import _gather, _read, _source

    path = Path("experiments/data/sbml/BIOMD0000001041.xml")
    m = _read(path).getModel()
    src = _source(path, m, _gather(path, m, "Antigen_presenting_tumour_cells"))
    for s in m.getListOfSpecies():
        assert s.getId() not in src
    assert path.name not in src
    spec = load_sbml(path, "Antigen_presenting_tumour_cells", "CAR_T_cells", "Normal_T_cells")
    assert spec.linear_tumour


@pytest.mark.parametrize(("replacement", "message"), [
    ("<infinity/>", "not supported in a rate law"),
    ("<notanumber/>", "not supported in a rate law"),
    ("<ci> undefined_thing </ci>", "'undefined_thing' is not defined in the model"),
])
def test_bad_math_is_one_line(replacement, message, kimmel_xml, tmp_path, cli):
    i = kimmel_xml.index("<ci> B </ci>")
    bad = tmp_path / "bad.xml"
    bad.write_text(kimmel_xml[:i] + replacement + kimmel_xml[i + len("<ci> B </ci>"):])
    status, _, err = cli(["patient", "--sbml", bad, "--tumour", "B"])
    assert status == 2 and message in err and "Traceback" not in err


def test_a_rate_divided_by_zero_is_one_line(kimmel_xml, tmp_path, cli):
    i = kimmel_xml.index("<ci> B </ci>")
    bad = tmp_path / "div0.xml"
    bad.write_text(kimmel_xml[:i] + "<apply><divide/><ci> B </ci><cn> 0 </cn></apply>"
                   + kimmel_xml[i + len("<ci> B </ci>"):])
    status, _, err = cli(["patient", "--sbml", bad, "--tumour", "B"])
    assert status == 2 and "at the initial state" in err
