"""MOSES metrics against independent computations: FCD against direct calls of the fcd package,
SNN and IntDiv against RDKit's own Tanimoto, Frag / Scaf / Filters on hand-picked molecules,
and the on-disk cache of reference statistics (a tiny reference list: CI never computes the
test-set statistics)."""

import math

import fcd
import numpy as np
import pytest
from fick.domains.molecules.metrics import moses_metrics as mm
from fick.domains.molecules.metrics import moses_reference as mr
from rdkit import Chem, DataStructs
from rdkit.Chem import BRICS, rdFingerprintGenerator

GEN = ["CC(=O)Nc1ccc(O)cc1", "CC(=O)Oc1ccccc1C(=O)O", "Cn1cnc2c1c(=O)n(C)c(=O)n2C",
       "CC(C)Cc1ccc(C(C)C(=O)O)cc1", "c1ccc2c(c1)CCN2", "O=C(O)c1ccccc1"]


@pytest.fixture(scope="module")
def reference():
    return mm.moses_smiles("test")[:40]


def _rdkit_fps(smiles):
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    return [gen.GetFingerprint(Chem.MolFromSmiles(s)) for s in smiles]


def test_fcd_agrees_with_the_fcd_package(reference):
    ref = mr.compute_reference(reference, "tiny")
    ours = mr.fcd_distance(GEN, ref.fcd_mu, ref.fcd_sigma)
    assert ours == pytest.approx(fcd.get_fcd(GEN, reference), rel=1e-4)
    assert mr.fcd_distance(reference[:20], ref.fcd_mu, ref.fcd_sigma) < ours  # closer: a subset


def test_snn_and_internal_diversity_agree_with_rdkit_tanimoto(reference):
    g, r = _rdkit_fps(GEN), _rdkit_fps(reference)
    nearest = np.mean([max(DataStructs.BulkTanimotoSimilarity(x, r)) for x in g])
    pairs = np.array([DataStructs.BulkTanimotoSimilarity(x, g) for x in g])
    gen_fps = mm.morgan_fingerprints(mm.smiles_to_mols(GEN))
    ref_fps = mm.morgan_fingerprints(mm.smiles_to_mols(reference))
    assert mm.snn(gen_fps, ref_fps) == pytest.approx(nearest, abs=1e-6)
    assert mm.internal_diversity(gen_fps) == pytest.approx(1 - pairs.mean(), abs=1e-6)
    assert mm.internal_diversity(gen_fps, 2) == pytest.approx(
        1 - np.sqrt((pairs ** 2).mean(1)).mean(), abs=1e-6)


def test_fragments_scaffolds_and_cosine():
    mols = mm.smiles_to_mols(["c1ccccc1CCc1ccncc1", "c1ccccc1", "CCOC(=O)c1ccccc1"])
    scaf = mm.scaffold_counts(mols)
    assert scaf == {"c1ccc(CCc2ccncc2)cc1": 1}  # benzene: one ring, dropped (min_rings=2)
    frags = mm.fragment_counts(mm.smiles_to_mols(["CCOC(=O)c1ccccc1", "CCOC(=O)c1ccccc1"]))
    # RDKit's Python BRICS decomposition (an independent code path) finds the same fragments
    assert set(frags) == BRICS.BRICSDecompose(Chem.MolFromSmiles("CCOC(=O)c1ccccc1"))
    assert sorted(frags.values()) == [2, 2, 2, 2]
    a, b = mm.Counter({"x": 1, "y": 2}), mm.Counter({"y": 2, "z": 2})
    assert mm.cosine_similarity(a, b) == pytest.approx(4 / (math.sqrt(5) * math.sqrt(8)))
    assert mm.cosine_similarity(a, a) == pytest.approx(1.0)
    assert math.isnan(mm.cosine_similarity(a, mm.Counter()))


@pytest.mark.parametrize("smiles, passes", [
    ("CC(=O)Nc1ccc(O)cc1", True),
    ("CC(=O)[O-]", False),  # charged
    ("C1CCCCCCC1", False),  # 8-membered ring
    ("CCP(C)C", False),  # P is not a MOSES atom
    ("S=C1SC(=Cc2ccccc2)C(=O)N1", False),  # a rhodanine: PAINS ene_rhod
    ("CCCCBr", False),  # MCF: primary alkyl halide
])
def test_filters(smiles, passes):
    assert mm.passes_filters(Chem.MolFromSmiles(smiles)) is passes


def test_reference_statistics_are_cached(tmp_path, monkeypatch, reference):
    monkeypatch.setattr(mr, "moses_smiles", lambda split: reference)
    first = mr.reference_statistics("test", 30, cache_dir=tmp_path, progress=False)
    (cached,) = tmp_path.glob("test-30-v*.npz")
    monkeypatch.setattr(mr, "compute_reference", lambda *a, **k: pytest.fail("recomputed"))
    again = mr.reference_statistics("test", 30, cache_dir=tmp_path, progress=False)
    assert first.size == again.size == 30 and cached.is_file()
    assert np.array_equal(first.fps, again.fps) and np.allclose(first.fcd_sigma, again.fcd_sigma)
    assert first.fragments == again.fragments and first.scaffolds == again.scaffolds
    metrics = mr.moses_metrics(GEN, {"test": again}, train_smiles={GEN[0]})
    assert metrics["novelty_moses"] == pytest.approx(5 / 6)
    assert 0 < metrics["snn/test"] < 1 and 0 <= metrics["filters"] <= 1
