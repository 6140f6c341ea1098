"""fick evaluate MODEL of a drug-like (MOSES3D) model reports what fick evaluate FILE.sdf reports
for the same molecules (one evaluator), and the MOSES3D test molecules are compared with the
test set less themselves. Tiny MOSES references (CI never computes the test-set statistics)."""

import math

import pytest
from fick.domains.molecules import plugin
from fick.domains.molecules.data.moses3d import MOSES3D_ELEMENTS
from fick.domains.molecules.export import from_rdkit, write_sdf
from fick.domains.molecules.metrics import moses_metrics as mm
from fick.domains.molecules.metrics import moses_reference as mr
from fick.domains.molecules.metrics.druglike import evaluate_druglike_records, is_druglike
from fick.domains.molecules.metrics.evaluate_sdf import evaluate_sdf_files
from fick.domains.molecules.model.config import MoleculeModelConfig
from rdkit import Chem
from rdkit.Chem import AllChem

INFO = {
    "elements": MOSES3D_ELEMENTS, "charges": [-1, 0, 1], "bond_types": [1, 2, 3],
    "num_atoms_hist": [0] * 20 + [1] * 40, "properties": [], "property_mean": {},
    "property_mad": {}, "dataset": "moses3d",
}


@pytest.fixture(scope="module")
def moses():
    """Small stand-ins for MOSES's splits (the real test SMILES, fewer of them)."""
    test = mm.moses_smiles("test")
    return {"test": test[:40], "test_scaffolds": mm.moses_smiles("test_scaffolds")[:40],
            "train": test[1000:1100]}


@pytest.fixture
def tiny_moses(moses, tmp_path, monkeypatch):
    monkeypatch.setenv("FICK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mm, "moses_smiles", moses.__getitem__)
    monkeypatch.setattr(mr, "moses_smiles", moses.__getitem__)
    return moses


def _record(smiles, seed=0):
    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(m, randomSeed=seed)
    AllChem.MMFFOptimizeMolecule(m)
    Chem.Kekulize(m, clearAromaticFlags=True)
    return from_rdkit(m, MOSES3D_ELEMENTS)


@pytest.fixture(scope="module")
def records(moses):
    out = [_record(s) for s in moses["test"][:5]]
    broken = out[0].clone()
    broken.bond_type = broken.bond_type.clone()
    broken.bond_type[0] = 3  # an over-bonded atom: invalid
    return out + [broken]


def test_drug_like_by_the_models_dataset():
    assert is_druglike({"dataset": "moses3d"}) and is_druglike({"dataset": "moses3d-seed2"})
    assert is_druglike({"dataset": "moses3d:/data/mine"})
    assert not is_druglike({"dataset": "qm9"}) and not is_druglike({})


def test_model_evaluation_equals_the_evaluation_of_its_sdf(tiny_moses, records, tmp_path):
    task = plugin.build_task("diffusion", MoleculeModelConfig(hidden=16, edge_hidden=8,
                                                              message_dim=8, layers=2), INFO, None)
    from_model = task.evaluate(records, None)
    path = write_sdf(records, tmp_path / "samples.sdf", elements=MOSES3D_ELEMENTS)
    from_file = evaluate_sdf_files([path], moses="all").metrics
    assert from_model.keys() == from_file.keys()
    for key, value in from_file.items():
        # the file's coordinates are rounded to 1e-4 A: strain moves by ~1e-4 kcal/mol
        tol = 1e-3 if key.startswith("strain") else 1e-12
        assert from_model[key] == pytest.approx(value, rel=1e-9, abs=tol), key
    for key in ("validity", "connected", "pb_valid", "strain_mean", "fcd/test", "snn/testsf",
                "frag/test", "intdiv", "filters", "novelty_moses"):
        assert key in from_model and math.isfinite(from_model[key]), key
    assert from_model["validity"] == pytest.approx(5 / 6)
    assert from_model["novelty_moses"] == 1.0  # test molecules are not MOSES training molecules
    qm9_info = {**INFO, "dataset": "qm9"}
    qm9_task = plugin.build_task("diffusion", MoleculeModelConfig(hidden=16, edge_hidden=8,
                                                                  message_dim=8, layers=2),
                                 qm9_info, None)
    assert "fcd/test" not in qm9_task.evaluate(records, None)  # QM9 models: EDM's metrics


def test_test_molecules_are_compared_with_the_test_set_less_themselves(tiny_moses, records):
    good = records[:5]
    within = evaluate_druglike_records(good, MOSES3D_ELEMENTS, posebusters=None, strain=False)
    apart = evaluate_druglike_records(good, MOSES3D_ELEMENTS, posebusters=None, strain=False,
                                      exclude_evaluated=True)
    assert within.metrics["snn/test"] == pytest.approx(1.0)  # each finds itself
    assert apart.metrics["snn/test"] < 0.9
    assert apart.metrics["fcd/test"] > within.metrics["fcd/test"]
    assert "35 test SMILES" in " ".join(apart.notes)
    with pytest.raises(mm.FickError, match="moses='often'"):
        evaluate_druglike_records(good, MOSES3D_ELEMENTS, moses="often")
