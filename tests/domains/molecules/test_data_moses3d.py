"""MOSES3D preparation: determinism (runs, worker counts), resuming after an interrupted shard,
failures counted per reason, properties against direct RDKit calls, and the config's dataset."""

import argparse
import gzip
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from fick.domains.base import FickError
from fick.domains.molecules.commands import add_data_commands
from fick.domains.molecules.data import moses3d
from fick.domains.molecules.data.moses3d import (
    MOSES3D_ELEMENTS,
    MOSES3D_PROPERTIES,
    embed_molecule,
    moses_smiles,
    prepare_moses3d,
)
from fick.domains.molecules.data.moses3d_dataset import load_moses3d
from fick.domains.molecules.data.perception import mol_from_atoms, smiles_to_canonical
from fick.pipelines.config import resolve_config
from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors
from rdkit.Chem import rdForceFieldHelpers as mmff

UNEMBEDDABLE = "C1#CC1"  # cyclopropyne: ETKDG cannot satisfy its bounds
UNSUPPORTED = "CP(C)(C)=O"  # phosphorus is outside the MOSES vocabulary
UNPARSABLE = "C1CC("


@pytest.fixture(scope="module")
def moses_test_smiles():
    """The real MOSES test split (one read per module) and 24 of its SMILES for tiny runs."""
    smiles, _ = moses_smiles("test")
    return smiles


@pytest.fixture(scope="module")
def tiny(moses_test_smiles):
    return moses_test_smiles[:24]


def prepare(smiles, out, n, **kw):
    kw.setdefault("workers", 1)
    kw.setdefault("shard_size", 5)
    return prepare_moses3d("train", n, smiles=smiles, out=out, progress=False, **kw)


def shard_contents(folder: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(folder.glob("shard-*.pt")):
        blob = torch.load(path, weights_only=True)
        out[path.name] = blob
    return out


def assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def test_source_is_the_moses_file(moses_test_smiles):
    folder = Path(importlib.util.find_spec("moses").submodule_search_locations[0])
    with gzip.open(folder / "dataset" / "data" / "test.csv.gz", "rt") as f:
        rows = [line.strip() for line in f]
    assert rows[0] == "SMILES" and moses_test_smiles == rows[1:]
    assert len(moses_test_smiles) == 176_074


def test_subset_is_a_fixed_permutation_that_grows(tmp_path, tiny):
    prepare(tiny, tmp_path / "a", 7)
    prepare(tiny, tmp_path / "a", 12)  # extends: shard 1 (positions 5-6) is recomputed whole
    small, _ = load_moses3d("train", root=tmp_path / "a")
    expected = np.random.RandomState(0).permutation(len(tiny))[:12]
    assert small.smiles() == [tiny[i] for i in expected]
    assert [int(r.index) for r in small.records()] == expected.tolist()
    prepare(tiny, tmp_path / "b", 12, seed=1)
    other, _ = load_moses3d("train", seed=1, root=tmp_path / "b")
    assert other.smiles() != small.smiles()


def test_deterministic_across_runs_and_worker_counts(tmp_path, tiny):
    runs = {}
    for name, workers in (("one", 1), ("two", 2), ("again", 1)):
        m = prepare(tiny, tmp_path / name, 24, workers=workers)
        assert m["run"]["workers"] == workers and m["molecules"] + m["failed"] == 24
        runs[name] = shard_contents(tmp_path / name / "train-seed0")
    assert len(runs["one"]) == 5
    for name in ("two", "again"):
        assert runs[name].keys() == runs["one"].keys()
        for shard in runs["one"]:
            assert_same(runs[name][shard], runs["one"][shard])


def test_resumes_after_an_interrupted_shard(tmp_path, tiny, monkeypatch):
    clean = tmp_path / "clean"
    prepare(tiny, clean, 14)
    folder = tmp_path / "resumed" / "train-seed0"
    prepare(tiny, tmp_path / "resumed", 14)
    # the run was killed while writing shard 2: no shard file, a half-written temp file
    (folder / "shard-00002.pt").unlink()
    (folder / "shard-00002.pt.tmp").write_bytes(b"half a zip file")
    before = {p.name: p.stat().st_mtime_ns for p in folder.glob("shard-*.pt")}
    calls = []

    def counting(smiles, seed):
        calls.append(smiles)
        return embed_molecule(smiles, seed)

    monkeypatch.setattr(moses3d, "embed_molecule", counting)
    m = prepare(tiny, tmp_path / "resumed", 14)
    order = np.random.RandomState(0).permutation(len(tiny))
    assert calls == [tiny[i] for i in order[10:14]]  # only the missing shard's molecules
    assert m["run"]["skipped_shards"] == 2 and m["run"]["computed_shards"] == 1
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("shard-0000[01].pt")} == before
    assert not (folder / "shard-00002.pt.tmp").exists()
    assert_same(shard_contents(folder), shard_contents(clean / "train-seed0"))
    calls.clear()
    prepare(tiny, tmp_path / "resumed", 14)
    assert calls == []  # nothing left to do


def test_failures_are_counted_and_named(tmp_path, tiny, monkeypatch, capsys):
    source = [UNEMBEDDABLE, UNSUPPORTED, UNPARSABLE] + tiny[:9]
    monkeypatch.setattr(moses3d, "moses_smiles", lambda split: (source, "test-digest"))
    parser = argparse.ArgumentParser()
    add_data_commands(parser)
    args = parser.parse_args(["prepare-moses3d", "--n", "12", "--workers", "2",
                              "--shard-size", "4", "--out", str(tmp_path)])
    assert args.func(args) == 0
    printed = capsys.readouterr().out
    manifest = json.loads((tmp_path / "train-seed0" / "manifest.json").read_text())
    expected = {"embedding_failed": 1, "unsupported_element": 1, "unparsable_smiles": 1}
    assert manifest["failure_reasons"] == expected and manifest["failed"] == 3
    assert manifest["molecules"] == 9
    assert {f["smiles"]: f["reason"] for f in manifest["failures"]} == {
        UNEMBEDDABLE: "embedding_failed", UNSUPPORTED: "unsupported_element",
        UNPARSABLE: "unparsable_smiles"}
    assert "ETK_MINIMIZATION" in next(f["detail"] for f in manifest["failures"]
                                      if f["reason"] == "embedding_failed")
    for reason, count in expected.items():
        assert f"{reason} {count}" in printed
    ds, _ = load_moses3d("train", root=tmp_path)
    assert len(ds) == 9 and not {UNEMBEDDABLE, UNSUPPORTED, UNPARSABLE} & set(ds.smiles())


def test_unconverged_optimisation_is_a_failure(tiny, monkeypatch):
    monkeypatch.setitem(moses3d.RECIPE, "mmff_max_iters", 1)
    result = embed_molecule(tiny[0], 0)
    assert not result["ok"] and result["reason"] == "mmff_not_converged"


def _sa_reference():
    spec = importlib.util.spec_from_file_location(
        "sascorer_reference", os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_records_match_direct_rdkit_calls(tmp_path, tiny):
    prepare(tiny, tmp_path, 8)
    ds, extra = load_moses3d("train", root=tmp_path)
    sascorer = _sa_reference()
    for k, r in enumerate(ds.records()):
        mol = Chem.MolFromSmiles(r.smiles)
        want = [QED.qed(mol), sascorer.calculateScore(mol), Crippen.MolLogP(mol),
                Descriptors.MolWt(mol), rdMolDescriptors.CalcTPSA(mol),
                rdMolDescriptors.CalcNumRings(mol)]
        got = dict(zip(MOSES3D_PROPERTIES, r.y.reshape(-1).tolist()))
        assert got == pytest.approx(dict(zip(MOSES3D_PROPERTIES, want)), rel=1e-6)
        # atoms, charges and kekulized bonds rebuild the molecule of the SMILES
        symbols = [MOSES3D_ELEMENTS[t] for t in r.atom_type.tolist()]
        assert sorted(symbols) == sorted(a.GetSymbol() for a in Chem.AddHs(mol).GetAtoms())
        bonds = [(i, j, t) for (i, j), t in zip(r.bond_index.T.tolist(), r.bond_type.tolist())]
        assert {t for *_, t in bonds} <= {1, 2, 3}
        rebuilt = mol_from_atoms(symbols, r.pos.numpy(), r.charge.tolist(), bonds)
        Chem.SanitizeMol(rebuilt)
        assert smiles_to_canonical(Chem.MolToSmiles(rebuilt)) == smiles_to_canonical(r.smiles)
        # the stored geometry is an MMFF94 minimum: relaxing it again barely moves the energy
        props = mmff.MMFFGetMoleculeProperties(rebuilt)
        field = mmff.MMFFGetMoleculeForceField(rebuilt, props)
        energy = field.CalcEnergy()
        assert energy == pytest.approx(float(extra["mmff_energy"][k]), abs=1e-2)
        field.Minimize(maxIts=2000)
        assert energy - field.CalcEnergy() < 0.05


def test_a_config_trains_on_the_prepared_shards(tmp_path, tiny, moses_test_smiles):
    cache = tmp_path / "cache"
    raw = {"domain": "molecules", "task": "diffusion",
           "data": {"dataset": "moses3d", "cache_dir": str(cache), "val_limit": None}}
    cfg, plugin = resolve_config(raw)
    with pytest.raises(FickError, match="prepare-moses3d --split train") as err:
        plugin.build_data(cfg.task, cfg.data, seed=0)
    assert "\n" not in str(err.value)

    root = cache / "molecules" / "moses3d"
    prepare(tiny, root, 24)
    prepare_moses3d("test", 6, smiles=moses_test_smiles[100:130], out=root, workers=1,
                    progress=False)
    bundle = plugin.build_data(cfg.task, cfg.data, seed=0)
    full, extra = load_moses3d("train", root=root)
    held_out = (extra["position"] % 20 == 19).tolist()
    assert len(bundle.train) + len(bundle.val) == len(full)
    assert bundle.val.smiles() == [s for s, h in zip(full.smiles(), held_out) if h]
    assert len(bundle.test) == 6 and bundle.extras["test"] is bundle.test
    info = bundle.info
    assert info["elements"] == MOSES3D_ELEMENTS and info["properties"] == MOSES3D_PROPERTIES
    assert sum(info["num_atoms_hist"]) == len(bundle.train)
    y = torch.stack([r.y.reshape(-1) for r in bundle.train.records()]).double()
    assert info["property_mean"]["qed"] == pytest.approx(float(y[:, 0].mean()))
    assert info["property_mad"]["mol_weight"] == pytest.approx(
        float((y[:, 3] - y[:, 3].mean()).abs().mean()))
    batch = bundle.collate_fn([bundle.train[0], bundle.train[1]])
    assert batch.num_graphs == 2

    # a folder given to --out, and data.limit
    prepare(tiny, tmp_path / "elsewhere", 10)
    cfg, _ = resolve_config({**raw, "data": {"dataset": f"moses3d:{tmp_path / 'elsewhere'}",
                                             "limit": 4}})
    bundle = plugin.build_data(cfg.task, cfg.data, seed=0)
    assert len(bundle.train) == 4 and bundle.test is None


def test_settings_of_a_folder_are_checked(tmp_path, tiny):
    prepare(tiny, tmp_path, 6, shard_size=3)
    with pytest.raises(FickError, match="--shard-size 3"):
        prepare(tiny, tmp_path, 6, shard_size=4)
    with pytest.raises(FickError, match="positive"):
        prepare(tiny, tmp_path, 0)
