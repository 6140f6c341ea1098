"""Export: SDF round trip through RDKit (atoms, coordinates, bonds, charges, tags), XYZ, CSV,
grid PNG, the self-contained 3D HTML view, and read_sdf."""

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from fick.domains.molecules.data import make_record
from fick.domains.molecules.export import (
    export_molecules,
    export_samples,
    from_rdkit,
    grid_png,
    html_3d,
    read_sdf,
    write_csv,
    write_sdf,
    write_xyz,
)
from fick.domains.molecules.metrics import bond_order_matrix, bonds_from_orders, evaluate_molecules
from PIL import Image
from rdkit import Chem
from rdkit.Chem import AllChem

EL = ["H", "C", "N", "O", "F"]


@pytest.fixture(scope="module")
def molecules():
    out = []
    for k, smi in enumerate(["CC(=O)[O-]", "C#CC=N", "OCC(F)C[NH3+]", "c1ccncc1"]):
        m = Chem.AddHs(Chem.MolFromSmiles(smi))
        AllChem.EmbedMolecule(m, randomSeed=k)
        Chem.Kekulize(m, clearAromaticFlags=True)
        out.append(from_rdkit(m, EL))
    return out


def test_sdf_round_trip_with_rdkit(molecules, tmp_path):
    scores = [{"qed": 0.5 + i / 10, "smiles": f"s{i}", "valid": 1.0, "missing": None}
              for i in range(len(molecules))]
    path = write_sdf(molecules, tmp_path / "m.sdf", scores)
    back = list(Chem.SDMolSupplier(str(path), removeHs=False, sanitize=True))
    assert len(back) == len(molecules) and all(m is not None for m in back)
    for rec, mol, sc in zip(molecules, back, scores):
        assert [EL[t] for t in rec.atom_type] == [a.GetSymbol() for a in mol.GetAtoms()]
        assert rec.charge.tolist() == [a.GetFormalCharge() for a in mol.GetAtoms()]
        pos = torch.tensor(mol.GetConformer().GetPositions())
        assert torch.allclose(pos, rec.pos.double(), atol=1e-4)  # SDF keeps 4 decimals
        Chem.Kekulize(mol, clearAromaticFlags=True)
        bonds = sorted((min(b.GetBeginAtomIdx(), b.GetEndAtomIdx()),
                        max(b.GetBeginAtomIdx(), b.GetEndAtomIdx()),
                        int(b.GetBondTypeAsDouble())) for b in mol.GetBonds())
        assert bonds == sorted(zip(*rec.bond_index.tolist(), rec.bond_type.tolist()))
        assert float(mol.GetProp("qed")) == pytest.approx(sc["qed"])
        # the whole molecule's own SMILES; the score's (EDM: largest fragment) under its name
        assert mol.GetProp("smiles") == Chem.MolToSmiles(Chem.RemoveHs(mol), isomericSmiles=False)
        assert mol.GetProp("largest_fragment_smiles") == sc["smiles"]
        assert not mol.HasProp("missing")
    # a tag that is the same for every record (the vocabulary) is written once, not per record
    assert back[0].HasProp("fick_elements") and not any(m.HasProp("fick_elements")
                                                        for m in back[1:])
    again = read_sdf(path, elements=EL)
    for a, b in zip(molecules, again):
        assert torch.equal(a.atom_type, b.atom_type) and torch.equal(a.charge, b.charge)
        assert torch.equal(a.bond_index, b.bond_index) and torch.equal(a.bond_type, b.bond_type)
        assert torch.allclose(a.pos, b.pos, atol=1e-4)
    assert again[0].sd_tags == ["qed", "valid"] and again[0].elements == EL
    # without elements=, the vocabulary stored in the file is used (F absent here, kept anyway)
    assert read_sdf(path)[0].elements == EL


def test_vocabulary_survives_a_file_missing_some_elements(tmp_path):
    vocab = ["H", "C", "N", "O", "S", "Cl"]
    m = Chem.AddHs(Chem.MolFromSmiles("ClCCS"))  # no N, no O: a by-file vocabulary would shift
    AllChem.EmbedMolecule(m, randomSeed=0)
    rec = from_rdkit(m, vocab)
    back = read_sdf(write_sdf([rec], tmp_path / "s.sdf", elements=vocab))[0]
    assert back.elements == vocab and torch.equal(back.atom_type, rec.atom_type)


def test_atoms_only_molecules_are_written_with_edm_bonds(molecules, tmp_path):
    bare = [make_record(m.pos, m.atom_type) for m in molecules]
    back = read_sdf(write_sdf(bare, tmp_path / "bare.sdf"), elements=EL)
    for rec, got in zip(bare, back):
        bi, bt = bonds_from_orders(bond_order_matrix(rec.pos, rec.atom_type, EL))
        assert torch.equal(got.bond_index, bi) and torch.equal(got.bond_type, bt)


def test_invalid_molecules_are_still_written(tmp_path):
    five_bonds = make_record(torch.tensor([[0.0, 0, 0], [1.5, 0, 0], [-1.5, 0, 0],
                                           [0, 1.5, 0], [0, -1.5, 0], [0, 0, 1.5]]),
                             [1, 1, 1, 1, 1, 1], None,
                             [[0, 0, 0, 0, 0], [1, 2, 3, 4, 5]], [1, 1, 1, 1, 1])
    path = write_sdf([five_bonds], tmp_path / "bad.sdf")
    mol = next(iter(Chem.SDMolSupplier(str(path), sanitize=False, removeHs=False)))
    assert mol.GetNumAtoms() == 6 and mol.GetNumBonds() == 5
    grid_png([five_bonds], tmp_path / "bad.png")


def test_xyz_csv_png_html(molecules, tmp_path):
    metrics, scores = evaluate_molecules(molecules, bonds="given", return_scores=True)
    xyz = write_xyz(molecules, tmp_path / "m.xyz").read_text().splitlines()
    n0 = molecules[0].num_atoms
    first = Chem.MolFromXYZBlock("\n".join(xyz[: n0 + 2]))
    assert first.GetNumAtoms() == n0
    assert torch.allclose(torch.tensor(first.GetConformer().GetPositions()),
                          molecules[0].pos.double(), atol=1e-5)
    rows = list(csv.DictReader(open(write_csv(molecules, tmp_path / "m.csv", scores))))
    assert [r["largest_fragment_smiles"] for r in rows] == [s["smiles"] for s in scores]
    assert [r["smiles"] for r in rows] == [s["smiles"] for s in scores]  # one fragment each
    assert rows[0]["smiles"] == "CC(=O)[O-]" and "qed" in rows[0]
    img = Image.open(grid_png(molecules, tmp_path / "m.png", per_row=2, size=200))
    assert img.size == (400, 400)
    page = html_3d(molecules, tmp_path / "m.html", scores=scores).read_text()
    # self-contained: no script or stylesheet fetched from the network at view time
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)
    data = json.loads(re.search(r'id="fick-data">(.*?)</script>', page, re.S).group(1))
    assert len(data) == len(molecules)
    assert data[1]["el"] == [EL[t] for t in molecules[1].atom_type]
    assert data[1]["bonds"] == [[i, j, o] for (i, j), o in
                                zip(molecules[1].bond_index.t().tolist(),
                                    molecules[1].bond_type.tolist())]
    files = export_molecules(molecules, tmp_path / "all", scores=scores)
    assert sorted(p.suffix for p in files) == [".csv", ".html", ".png", ".sdf", ".xyz"]
    files = export_samples(molecules, tmp_path / "task", "gen", elements=EL)  # scores computed
    tagged = next(iter(Chem.SDMolSupplier(str(tmp_path / "task" / "gen.sdf"), removeHs=False)))
    assert tagged.GetProp("smiles") == "CC(=O)[O-]" and float(tagged.GetProp("valid")) == 1.0


@pytest.mark.skipif(shutil.which("node") is None, reason="node.js not installed")
def test_html_viewer_script_parses(molecules, tmp_path):
    page = html_3d(molecules, tmp_path / "v.html").read_text()
    script = page[page.rindex("<script>") + len("<script>"): page.rindex("</script>")]
    (tmp_path / "v.js").write_text(script)
    subprocess.run(["node", "--check", str(tmp_path / "v.js")], check=True)


def test_grid_survives_a_molecule_rdkit_cannot_draw(tmp_path):
    # a generated graph on which RDKit's drawer raises "Cannot normalize a zero length vector"
    # (it stopped a QM9 training at its first validation): it becomes an empty cell
    from fick.domains.molecules.export import grid_png, read_sdf

    bad = read_sdf(Path(__file__).parent / "data" / "undrawable.sdf")
    assert grid_png(bad * 2, tmp_path / "grid.png").stat().st_size > 0
