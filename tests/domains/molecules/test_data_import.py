"""Import of users' molecules: SDF with broken / unknown-element / oversized / 2D records, a
folder of MOL, MOL2 and XYZ files, SD-tag properties, the report and the CLI."""

import argparse

import pytest
import torch
from fick.domains.base import FickError
from fick.domains.molecules.commands import add_data_commands
from fick.domains.molecules.data import import_molecules, load_imported
from rdkit import Chem
from rdkit.Chem import AllChem


def embedded(smiles, name, **tags):
    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(m, randomSeed=7)
    m.SetProp("_Name", name)
    for k, v in tags.items():
        m.SetProp(k, str(v))
    return m


def block(mol):
    props = "".join(f">  <{k}>\n{mol.GetProp(k)}\n\n" for k in mol.GetPropNames())
    return Chem.MolToMolBlock(mol) + props + "$$$$\n"


@pytest.fixture()
def mixed_sdf(tmp_path):
    good = [embedded("CCO", "ethanol", pIC50=5.5, note="text"),
            embedded("c1ccccc1O", "phenol", pIC50=6.0),
            embedded("C[N+](C)(C)C", "tetramethylammonium")]
    unknown = block(embedded("CCO", "made-up")).replace(" O   0", " Xx  0")
    tin = embedded("C[Sn](C)(C)C", "tin")
    big = embedded("C" * 40, "wax")  # 122 atoms with hydrogens
    flat = Chem.MolFromSmiles("CCN")
    AllChem.Compute2DCoords(flat)
    flat.SetProp("_Name", "flat")
    text = (block(good[0]) + "broken\n  junk\n\nnot a mol block\n$$$$\n" + unknown
            + block(big) + block(good[1]) + block(tin) + block(flat) + block(good[2]))
    path = tmp_path / "mixed.sdf"
    path.write_text(text)
    return path, good


def test_good_molecules_imported_and_each_skip_named(mixed_sdf, tmp_path):
    path, good = mixed_sdf
    ds, report = import_molecules(path, "mixed", cache_dir=tmp_path / "cache")
    assert len(ds) == 3 and report.num_read == 8 and report.num_imported == 3
    reasons = {s["molecule"]: s["reason"] for s in report.skipped}
    assert reasons.pop("mixed.sdf#6 'tin'").startswith("unsupported element(s) Sn")
    assert reasons == {
        "mixed.sdf#2 'broken'": "unreadable record (RDKit could not parse it)",
        "mixed.sdf#3 'made-up'": "unknown element 'Xx'",
        "mixed.sdf#4 'wax'": "too many atoms (122 > max_atoms 100)",
        "mixed.sdf#7 'flat'": "no 3D coordinates (2D or empty coordinate block)",
    }
    text = report.format()
    assert all(name in text for name in [*reasons, "mixed.sdf#6 'tin'"])
    # element vocabulary from the data (by atomic number), bonds and charges from the file
    assert ds.elements == ["H", "C", "N", "O"] and ds.properties == ["pIC50"]
    for rec, mol in zip(ds.records(), good):
        assert rec.num_atoms == mol.GetNumAtoms()  # hydrogens kept
        assert torch.allclose(rec.pos.double(),
                              torch.tensor(mol.GetConformer().GetPositions()), atol=1e-4)
        assert [ds.elements[t] for t in rec.atom_type] == [a.GetSymbol() for a in mol.GetAtoms()]
        assert rec.charge.tolist() == [a.GetFormalCharge() for a in mol.GetAtoms()]
        assert rec.bond_type.numel() == mol.GetNumBonds()
        assert rec.smiles == Chem.MolToSmiles(Chem.RemoveHs(mol))
    assert set(ds[1].bond_type.tolist()) == {1, 2}  # phenol kekulized
    assert ds[0].y.tolist() == [[5.5]] and torch.isnan(ds[2].y).all()  # missing tag: NaN
    assert ds.info()["charges"] == [0, 1]
    # the max-atoms limit is configurable
    ds2, report2 = import_molecules(path, "mixed2", max_atoms=200, write=False)
    assert len(ds2) == 4 and "mixed.sdf#4 'wax'" not in {s["molecule"] for s in report2.skipped}


def test_cache_round_trip(mixed_sdf, tmp_path):
    path, _ = mixed_sdf
    ds, report = import_molecules(path, "mixed", cache_dir=tmp_path)
    back, extra = load_imported("mixed", cache_dir=tmp_path)
    assert len(back) == len(ds) and back.elements == ds.elements
    assert extra["report"]["num_read"] == 8 and len(extra["report"]["skipped"]) == 5
    assert torch.equal(back[2].bond_index, ds[2].bond_index)
    with pytest.raises(FickError, match="fick data molecules import"):
        load_imported("absent", cache_dir=tmp_path)


def test_folder_of_mol_mol2_xyz(tmp_path):
    folder = tmp_path / "mols"
    folder.mkdir()
    acetonitrile = embedded("CC#N", "acn")
    Chem.MolToMolFile(acetonitrile, str(folder / "a.mol"))
    Chem.MolToXYZFile(acetonitrile, str(folder / "b.xyz"))
    (folder / "c.mol2").write_text(
        "@<TRIPOS>MOLECULE\nwater\n3 2 0 0 0\nSMALL\nNO_CHARGES\n\n@<TRIPOS>ATOM\n"
        "1 O1 0.0000 0.0000 0.1173 O.3 1 HOH 0.0\n"
        "2 H1 0.0000 0.7572 -0.4692 H 1 HOH 0.0\n"
        "3 H2 0.0000 -0.7572 -0.4692 H 1 HOH 0.0\n"
        "@<TRIPOS>BOND\n1 1 2 1\n2 1 3 1\n")
    (folder / "notes.txt").write_text("ignored")
    ds, report = import_molecules(folder, "folder", write=False)
    assert report.num_read == 3 and len(ds) == 3 and not report.skipped
    mol_rec, xyz_rec, water = ds.records()
    # bonds of the XYZ file are perceived from coordinates and agree with the MOL file's
    assert torch.equal(mol_rec.bond_index, xyz_rec.bond_index)
    assert torch.equal(mol_rec.bond_type, xyz_rec.bond_type)
    assert 3 in mol_rec.bond_type.tolist()
    assert water.num_atoms == 3 and water.bond_type.tolist() == [1, 1]


def test_errors_are_user_facing(tmp_path):
    with pytest.raises(FickError, match="does not exist"):
        import_molecules(tmp_path / "nothing.sdf", "x", write=False)
    (tmp_path / "bad.sdf").write_text("garbage\n\n\nnothing\n$$$$\n")
    with pytest.raises(FickError, match="no molecule"):
        import_molecules(tmp_path / "bad.sdf", "x", write=False)
    with pytest.raises(FickError, match="invalid dataset name"):
        import_molecules(tmp_path / "bad.sdf", "qm9", write=False)


@pytest.mark.parametrize("name", ["moses3d", "MOSES3D-seed1", "moses3d_mine"])
def test_moses3d_names_are_reserved(mixed_sdf, name):
    path, _ = mixed_sdf
    with pytest.raises(FickError, match="reserved for MOSES3D") as err:
        import_molecules(path, name, write=False)
    assert "\n" not in str(err.value)


def test_cli_import_then_stats(mixed_sdf, tmp_path, monkeypatch, capsys):
    path, _ = mixed_sdf
    monkeypatch.setenv("FICK_CACHE", str(tmp_path / "cache"))
    parser = argparse.ArgumentParser()
    add_data_commands(parser)
    args = parser.parse_args(["import", str(path), "--name", "mine"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "imported 3 of 8" in out and "unknown element 'Xx'" in out
    args = parser.parse_args(["stats", "mine", "--histogram"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "3 molecules" in out and "pIC50" in out and "H 24" in out
    args = parser.parse_args(["export-split", "mine", "--split", "all", "--out",
                              str(tmp_path / "mine.sdf")])
    assert args.func(args) == 0
    assert len(Chem.SDMolSupplier(str(tmp_path / "mine.sdf"), removeHs=False)) == 3
