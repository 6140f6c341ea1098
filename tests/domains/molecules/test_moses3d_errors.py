"""The obvious bad inputs of the MOSES3D commands give one line that says what to do: exit code 2,
no traceback (prepare-moses3d, the dataset's loading, fick evaluate of SDF files)."""

import pytest
from fick.pipelines.cli import main


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FICK_CACHE", str(tmp_path / "cache"))
    return tmp_path


@pytest.mark.parametrize("argv, says", [
    (["data", "molecules", "prepare-moses3d", "--n", "0"], "must be positive"),
    (["data", "molecules", "prepare-moses3d", "--workers", "0", "--n", "5"], "must be positive"),
    (["data", "molecules", "stats", "moses3d", "--split", "test"],
     "run fick data molecules prepare-moses3d --split test --seed 0"),
    (["data", "molecules", "stats", "moses3d-seed2"],
     "run fick data molecules prepare-moses3d --split train --seed 2"),
    (["data", "molecules", "stats", "moses3d-sed1"], "use moses3d, moses3d-seedS or moses3d:"),
    (["evaluate", "missing.sdf", "--no-track"], "does not exist"),
])
def test_one_line_errors(empty_cache, monkeypatch, capsys, argv, says):
    monkeypatch.chdir(empty_cache)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and "\n" not in err and "Traceback" not in err


def test_evaluate_refuses_a_bad_moses_option_before_scoring(empty_cache, monkeypatch, capsys):
    from fick.domains.molecules.metrics import evaluate_sdf

    monkeypatch.chdir(empty_cache)
    (empty_cache / "one.sdf").write_text(
        "water\n  fick\n\n  3  2  0  0  0  0  0  0  0  0999 V2000\n"
        "    0.0000    0.0000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0\n"
        "    0.9600    0.0000    0.0000 H   0  0  0  0  0  0  0  0  0  0  0  0\n"
        "   -0.2400    0.9300    0.0000 H   0  0  0  0  0  0  0  0  0  0  0  0\n"
        "  1  2  1  0\n  1  3  1  0\nM  END\n$$$$\n")
    monkeypatch.setattr(evaluate_sdf, "evaluate_rdkit_molecules",
                        lambda *a, **k: pytest.fail("scored before the options were checked"))
    assert main(["evaluate", "one.sdf", "--moses", "often", "--no-track"]) == 2
    err = capsys.readouterr().err.strip()
    assert "moses='often'" in err and "\n" not in err
