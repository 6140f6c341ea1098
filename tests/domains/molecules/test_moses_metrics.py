"""MOSES metrics against independent computations: FCD against direct calls of the fcd package,
SNN and IntDiv against RDKit's own Tanimoto, Frag / Scaf / Filters on hand-picked molecules,
and the on-disk cache of reference statistics (a tiny reference list: CI never computes the
test-set statistics)."""

import hashlib
import math

import fcd
import numpy as np
import pytest
from fick.domains.base import FickError
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
    assert not list(tmp_path.glob("*.partial"))  # the resumable chunks go once it is cached
    monkeypatch.setattr(mr, "compute_reference", lambda *a, **k: pytest.fail("recomputed"))
    again = mr.reference_statistics("test", 30, cache_dir=tmp_path, progress=False)
    assert first.size == again.size == 30 and cached.is_file()
    assert np.array_equal(first.fps, again.fps) and np.allclose(first.fcd_sigma, again.fcd_sigma)
    assert first.fragments == again.fragments and first.scaffolds == again.scaffolds
    metrics = mr.moses_metrics(GEN, {"test": again}, train_smiles={GEN[0]})
    assert metrics["novelty_moses"] == pytest.approx(5 / 6)
    assert 0 < metrics["snn/test"] < 1 and 0 <= metrics["filters"] <= 1


def test_excluding_molecules_equals_recomputing_without_them(reference):
    full = mr.compute_reference(reference, "tiny")
    drop = reference[5:15]
    rest = [s for s in reference if s not in drop]
    fewer = full.excluding(reference, [Chem.MolToSmiles(m) for m in mm.smiles_to_mols(drop)])
    direct = mr.compute_reference(rest, "rest")
    assert fewer.size == direct.size == 30
    assert np.allclose(fewer.fcd_mu, direct.fcd_mu, atol=1e-6)
    assert np.allclose(fewer.fcd_sigma, direct.fcd_sigma, atol=1e-6)
    assert np.array_equal(fewer.fps, direct.fps)
    assert fewer.fragments == direct.fragments and fewer.scaffolds == direct.scaffolds
    assert full.excluding(reference, GEN) is full  # none of them there: unchanged
    with pytest.raises(FickError, match="SMILES it was computed from"):
        full.excluding(reference[:10], drop)


def test_interrupted_activations_resume_from_finished_chunks(tmp_path, monkeypatch, reference):
    monkeypatch.setattr(mr, "_CHUNK", 8)
    whole = mr.fcd_activations(reference, partial_dir=tmp_path)
    assert len(list(tmp_path.glob("act-*.npy"))) == 5
    third = hashlib.sha1("\n".join(reference[16:24]).encode()).hexdigest()[:16]
    (tmp_path / f"act-{third}.npy").unlink()  # as if killed during the third chunk
    calls = []
    real = fcd.get_predictions
    monkeypatch.setattr(fcd, "get_predictions",
                        lambda m, s, **k: calls.append(s) or real(m, s, **k))
    again = mr.fcd_activations(reference, partial_dir=tmp_path)
    assert calls == [reference[16:24]]  # only the missing chunk is computed again
    assert np.array_equal(whole, again)
    assert np.allclose(whole, mr.fcd_activations(reference), atol=1e-5)


def test_a_chunk_claimed_by_a_live_process_is_waited_for(tmp_path, monkeypatch, reference):
    import subprocess
    import threading

    monkeypatch.setattr(mr, "_CHUNK", 20)
    monkeypatch.setattr(mr, "_CLAIM_POLL_S", 0.05)
    expected = mr.fcd_activations(reference)
    first = hashlib.sha1("\n".join(reference[:20]).encode()).hexdigest()[:16]
    second = hashlib.sha1("\n".join(reference[20:]).encode()).hexdigest()[:16]
    other = subprocess.Popen(["sleep", "60"])  # a live process that "computes" chunk 1
    try:
        (tmp_path / f"act-{first}.claim").write_text(str(other.pid))
        (tmp_path / f"act-{second}.claim").write_text("999999999")  # dead: taken over

        def finish_elsewhere():
            np.save(tmp_path / f"act-{first}.npy", expected[:20])
            (tmp_path / f"act-{first}.claim").unlink()

        timer = threading.Timer(1.0, finish_elsewhere)
        timer.start()
        calls = []
        real = fcd.get_predictions
        monkeypatch.setattr(fcd, "get_predictions",
                            lambda m, s, **k: calls.append(s) or real(m, s, **k))
        got = mr.fcd_activations(reference, partial_dir=tmp_path)
        timer.join()
    finally:
        other.kill()
    assert calls == [reference[20:]]  # the claimed chunk was read, not computed again
    assert np.allclose(got, expected, atol=1e-5)
    assert not list(tmp_path.glob("*.claim"))
