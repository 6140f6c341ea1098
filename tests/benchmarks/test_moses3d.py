"""benchmarks/moses3d.py: a smoke run of its data row on a few freshly embedded MOSES test
molecules (small MOSES references), its section in a BENCHMARKS.md, the issue's floors as
pass / fail, and its one-line errors."""

import math

import pytest
from fick.domains.base import FickError
from fick.domains.molecules.data.moses3d import prepare_moses3d
from fick.domains.molecules.metrics import moses_metrics as mm

from benchmarks import moses3d as bench


@pytest.fixture
def prepared_test(tmp_path, monkeypatch):
    monkeypatch.setenv("FICK_CACHE", str(tmp_path / "cache"))
    prepare_moses3d("test", 12, smiles=mm.moses_smiles("test")[:40], workers=1,
                    progress=False)
    return tmp_path


def test_quick_data_row_writes_its_section(prepared_test, monkeypatch):
    monkeypatch.chdir(prepared_test)
    out = prepared_test / "BENCHMARKS.md"
    out.write_text("# Benchmarks\n\nkept\n")
    assert bench.main(["--quick", "--n", "12", "--references", "test",
                       "--benchmarks", str(out)]) == 0
    text = out.read_text()
    assert "kept" in text and "<!-- moses3d:begin -->" in text
    row = next(line for line in text.splitlines() if line.startswith("| MOSES3D test data"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    header = next(line for line in text.splitlines() if line.startswith("| row |"))
    names = [c.strip() for c in header.strip("|").split("|")]
    values = dict(zip(names, cells))
    assert float(values["valid %"]) == 100.0  # RDKit-embedded MOSES molecules sanitise
    assert float(values["novel %"]) == 100.0  # test molecules are not training molecules
    assert 0 < float(values["SNN/Test"]) < 1
    assert values["FCD/TestSF"] == "-"  # --references test
    assert "CharRNN (published)" in text and "(published) EDM" in text
    assert "Polykovskiy et al. 2020" in text
    assert "python -m benchmarks.moses3d --quick" in text
    rows = prepared_test / "outputs" / "benchmarks" / "moses3d" / "rows-quick.json"
    again = prepared_test / "AGAIN.md"
    assert bench.main(["--rows", str(rows), "--benchmarks", str(again)]) == 0
    assert again.read_text().split("<!-- moses3d:begin -->")[1] == text.split(
        "<!-- moses3d:begin -->")[1]  # the same section, from the saved rows alone


def test_quick_run_never_overwrites_the_default_file(prepared_test, monkeypatch):
    monkeypatch.chdir(prepared_test)
    assert bench.main(["--quick", "--n", "12", "--references", "test"]) == 0
    assert not (prepared_test / "BENCHMARKS.md").exists()


def test_floors_pass_and_fail():
    good = {"validity": 0.95, "connected": 0.81, "pb_valid": 0.70}
    assert bench.floor_checks(good).count("pass") == 3
    line = bench.floor_checks({**good, "pb_valid": 0.69, "connected": math.nan})
    assert "pb_valid 69.0 >= 70 FAIL" in line and "connected nan >= 80 FAIL" in line
    assert "validity 95.0 >= 80 pass" in line


def test_one_line_errors(prepared_test):
    with pytest.raises(FickError, match="prepare-moses3d --split test --n 50"):
        bench.main(["--n", "50", "--no-write", "--moses", "40"])
    with pytest.raises(FickError, match="--moses often"):
        bench.main(["--moses", "often", "--no-write"])
    with pytest.raises(FickError, match="not a drug-like"):
        bench.main(["--model", "qm9", "--no-data", "--no-write", "--quick"])
