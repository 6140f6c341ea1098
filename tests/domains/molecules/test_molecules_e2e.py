"""`fick train configs/molecules/qm9-tiny.yaml`, then `fick sample` (atom counts, a fixed
scaffold) and `fick evaluate` on the saved model, through the real CLI in a subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rdkit import Chem
from rdkit.Chem import AllChem
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[3]
FICK = [sys.executable, "-c", "import sys; from fick.pipelines.cli import main; sys.exit(main())"]


def _ethanol_sdf(path: Path) -> Chem.Mol:
    mol = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(mol, randomSeed=0)
    with Chem.SDWriter(str(path)) as w:
        w.write(mol)
    return mol


@pytest.mark.slow
def test_train_tiny_then_sample_with_scaffold_and_evaluate(tmp_path):
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
    )

    def fick(*args, ok=True):
        proc = subprocess.run(
            FICK + list(args), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
        assert (proc.returncode == 0) == ok, proc.stderr[-3000:]
        return proc

    fick(
        "train",
        str(ROOT / "configs/molecules/qm9-tiny.yaml"),
        "--set", f"train.output_dir={tmp_path / 'outputs'}",
        "--set", "train.max_steps=20",
        "--set", "train.val_every_n_steps=20",
        "--set", "train.checkpoint_every_n_steps=20",
        "--set", "sample.n=4",
    )
    (model,) = list((tmp_path / "outputs").glob("*/*/model"))
    assert (model / "model.safetensors").is_file()

    # the last checkpoint loads as a model too: exported, it holds the saved model's weights
    (ckpt,) = list((tmp_path / "outputs").glob("*/*/checkpoints/last.ckpt"))
    fick("export", str(ckpt), "--out", str(tmp_path / "exported"))
    saved = load_file(model / "model.safetensors")
    exported = load_file(tmp_path / "exported" / "model.safetensors")
    assert saved.keys() == exported.keys()
    assert all(torch.equal(saved[k], exported[k]) for k in saved)

    # atom counts as a range: every molecule has 9..11 atoms, written as SDF with score tags
    fick("sample", str(model), "-n", "3", "--steps", "3", "--atoms", "9-11",
         "--out", str(tmp_path / "free"))
    (sdf,) = list((tmp_path / "free").glob("*.sdf"))
    mols = list(Chem.SDMolSupplier(str(sdf), sanitize=False, removeHs=False))
    assert len(mols) == 3 and all(9 <= m.GetNumAtoms() <= 11 for m in mols)
    assert all(m.GetPropsAsDict() for m in mols)  # per-molecule scores as SD tags

    # a fixed scaffold: its atoms come back first, with the file's elements and coordinates
    scaffold = _ethanol_sdf(tmp_path / "ethanol.sdf")
    fick("sample", str(model), "-n", "2", "--steps", "3", "--atoms", "13",
         "--fix", str(tmp_path / "ethanol.sdf"), "--out", str(tmp_path / "grown"))
    (sdf,) = list((tmp_path / "grown").glob("*.sdf"))
    want = scaffold.GetConformer().GetPositions()
    for mol in Chem.SDMolSupplier(str(sdf), sanitize=False, removeHs=False):
        assert mol.GetNumAtoms() == 13
        k = scaffold.GetNumAtoms()
        assert [a.GetSymbol() for a in mol.GetAtoms()][:k] == [
            a.GetSymbol() for a in scaffold.GetAtoms()
        ]
        got = mol.GetConformer().GetPositions()[:k]
        assert abs(got - want).max() < 1e-3  # SDF keeps 4 decimals

    out = fick("evaluate", str(tmp_path / "free"), "--no-track").stdout
    assert "mol_stability" in out and "validity" in out

    bad = fick("sample", str(model), "--fix", str(tmp_path / "missing.sdf"), ok=False)
    assert "missing.sdf" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
