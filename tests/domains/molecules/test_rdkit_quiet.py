"""RDKit stays quiet in fick's scoring: posebusters turns RDKit's logs back on after every
molecule, and each later invalid molecule then printed "Explicit valence for atom # 0 C, 5, is
greater than permitted" to the terminal of `fick sample`, `fick evaluate` and training validation.
stderr is captured at the file-descriptor level (RDKit writes from C++)."""

import math

import numpy as np
import pytest
from fick.domains.molecules.data import make_record
from fick.domains.molecules.metrics import score_molecules
from fick.domains.molecules.metrics.posebusters_checks import posebusters_checks
from rdkit import Chem, rdBase

TETRAHEDRON = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / math.sqrt(3)
BIPYRAMID = np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0],
                      [-0.5, math.sqrt(3) / 2, 0], [-0.5, -math.sqrt(3) / 2, 0]])


def _log_switches() -> dict[str, bool]:
    return {name: state == "enabled" for name, _, state in
            (line.partition(":") for line in rdBase.LogStatus().splitlines())}


@pytest.fixture
def fick_log_policy():
    """fick's import-time policy (every RDKit log off), whatever earlier tests left; the
    switches as they were afterwards."""
    before = _log_switches()
    rdBase.DisableLog("rdApp.*")
    yield
    for name, on in before.items():
        (rdBase.EnableLog if on else rdBase.DisableLog)(name)


def test_an_invalid_molecule_after_posebusters_prints_nothing_and_keeps_its_reason(
        fick_log_policy, capfd):
    methane = make_record(np.vstack([[0, 0, 0], TETRAHEDRON * 1.09]), [1, 0, 0, 0, 0])
    ch5 = make_record(np.vstack([[0, 0, 0], BIPYRAMID * 1.09]), [1, 0, 0, 0, 0, 0])
    capfd.readouterr()
    valid, invalid = score_molecules([methane, ch5])  # posebusters runs on the valid one first
    err = capfd.readouterr().err
    assert valid["valid"] == 1.0 and "pb_valid" in valid  # posebusters did run
    assert invalid["valid"] == 0.0 and invalid["reason"] == "RDKit sanitization failed"
    assert "valence" not in err and "greater than permitted" not in err, err


def test_posebusters_leaves_rdkit_log_switches_as_it_found_them(fick_log_policy, capfd):
    water = Chem.AddHs(Chem.MolFromSmiles("O"))
    Chem.rdDistGeom.EmbedMolecule(water, randomSeed=0)
    rdBase.EnableLog("rdApp.error")  # a user's choice survives too
    before = _log_switches()
    assert posebusters_checks([water])[0]["pb_valid"] == 1.0
    assert _log_switches() == before
    assert before["rdApp.error"] and not before["rdApp.warning"] and not before["rdApp.info"]


def _ch5() -> Chem.Mol:
    """Carbon with five hydrogens, unsanitised, with coordinates (a typical invalid sample)."""
    mol = Chem.RWMol()
    conf = Chem.Conformer(6)
    mol.AddAtom(Chem.Atom(6))
    for i, xyz in enumerate(BIPYRAMID * 1.09, start=1):
        mol.AddAtom(Chem.Atom(1))
        mol.AddBond(0, i, Chem.BondType.SINGLE)
        conf.SetAtomPosition(i, xyz.tolist())
    mol.AddConformer(conf)
    return mol.GetMol()


def test_posebusters_on_invalid_molecules_prints_nothing(fick_log_policy, capfd):
    water = Chem.AddHs(Chem.MolFromSmiles("O"))
    Chem.rdDistGeom.EmbedMolecule(water, randomSeed=0)
    capfd.readouterr()
    # posebusters re-enables RDKit's logs after each molecule, so the second CH5 printed
    # "Explicit valence for atom # 0 C, 5, is greater than permitted" from inside its checks
    rows = posebusters_checks([water, _ch5(), _ch5()])
    err = capfd.readouterr().err
    assert rows[0]["pb_valid"] == 1.0 and rows[1]["pb_valid"] == 0.0
    assert "valence" not in err and "greater than permitted" not in err, err
