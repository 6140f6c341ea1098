"""fick evaluate FILE.sdf | FOLDER: broken records are skipped and named (file, record number,
reason), the good ones scored; per-molecule scores round-trip as SD tags and CSV columns;
MiDi's charge-aware valences on charged / S / Cl / Br molecules."""

import csv

import pytest
from fick.domains.molecules.metrics.evaluate_sdf import midi_stability
from fick.domains.molecules.metrics.sdf_reader import read_sdf_records
from fick.pipelines.cli import main
from rdkit import Chem
from rdkit.Chem import AllChem


def block(smiles, seed=0):
    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    AllChem.EmbedMolecule(m, randomSeed=seed)
    AllChem.MMFFOptimizeMolecule(m)
    return Chem.MolToMolBlock(m, kekulize=True)


@pytest.fixture
def broken_sdf(tmp_path):
    good = block("CC(=O)Nc1ccc(O)cc1")  # paracetamol
    lines = good.splitlines()
    nan = list(lines)
    nan[5] = "       nan" + nan[5][10:]  # atom 2's x
    unknown = list(lines)
    unknown[4] = unknown[4][:31] + "Qq " + unknown[4][34:]
    truncated = "\n".join(lines[:9])
    records = [good + "\n>  <id>\nA\n", "\n".join(nan), "\n".join(unknown),
               block("Clc1ccc(Br)cc1") + "\n>  <id>\nD\n", truncated]
    path = tmp_path / "mixed.sdf"
    path.write_text("\n$$$$\n".join(records))
    return path


def test_reader_names_each_bad_record(broken_sdf):
    good, bad = read_sdf_records(broken_sdf)
    assert [r.number for r in good] == [1, 4]
    assert [r.mol.GetProp("id") for r in good] == ["A", "D"]
    reasons = {b.number: b.reason for b in bad}
    assert sorted(reasons) == [2, 3, 5] and all(b.file == broken_sdf for b in bad)
    assert "non-finite coordinates" in reasons[2] and "atom 2" in reasons[2]
    assert "unknown element 'Qq'" in reasons[3]
    assert reasons[5].startswith("truncated record")


def test_cli_evaluates_the_good_records_and_names_the_bad(broken_sdf, tmp_path, capsys):
    out = tmp_path / "eval"
    rc = main(["evaluate", str(broken_sdf), "--no-track", "--moses", "none", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0
    for number in (2, 3, 5):
        assert f"{broken_sdf}: record {number}: " in text
    metrics = dict(line.split() for line in text.splitlines()
                   if len(line.split()) == 2 and line.split()[0] in (
                       "num_records", "num_skipped", "validity", "pb_valid", "mol_stability"))
    assert float(metrics["num_records"]) == 5 and float(metrics["num_skipped"]) == 3
    assert float(metrics["validity"]) == 1.0 and float(metrics["mol_stability"]) == 1.0
    # per-molecule values: SD tags on each molecule and the same values as CSV columns
    tagged = list(Chem.SDMolSupplier(str(out / "evaluated.sdf"), removeHs=False))
    rows = list(csv.DictReader(open(out / "evaluated.csv")))
    assert [m.GetProp("record") for m in tagged] == ["1", "4"] == [r["record"] for r in rows]
    assert [m.GetProp("id") for m in tagged] == ["A", "D"]  # the user's own tags are kept
    expect = ["CC(=O)Nc1ccc(O)cc1", "Clc1ccc(Br)cc1"]
    assert [m.GetProp("smiles") for m in tagged] == expect == [r["smiles"] for r in rows]
    assert [m.GetProp("largest_fragment_smiles") for m in tagged] == expect
    for m, r in zip(tagged, rows):
        for key in ("qed", "strain", "pb_valid", "moses_filters", "atom_stable"):
            assert float(m.GetProp(key)) == pytest.approx(float(r[key]))
        assert not m.HasProp("reason")  # empty: not written
    assert float(tagged[0].GetProp("qed")) == pytest.approx(
        Chem.QED.qed(Chem.MolFromSmiles(expect[0])), abs=1e-5)
    skipped = list(csv.DictReader(open(out / "skipped.csv")))
    assert [int(r["record"]) for r in skipped] == [2, 3, 5]


def test_folder_of_sdf_files_and_missing_paths(tmp_path, capsys):
    folder = tmp_path / "many"
    folder.mkdir()
    (folder / "a.sdf").write_text(block("CCO") + "\n$$$$\n")
    (folder / "b.sdf").write_text(block("CCN") + "\n$$$$\n" + "garbage\n")
    rc = main(["evaluate", str(folder), "--no-track", "--moses", "none", "--posebusters", "off",
               "--no-strain", "--out", str(tmp_path / "o")])
    text = capsys.readouterr().out
    assert rc == 0 and f"{folder / 'b.sdf'}: record 2: " in text
    tagged = list(Chem.SDMolSupplier(str(tmp_path / "o" / "evaluated.sdf")))
    assert [m.GetProp("source_file") for m in tagged] == ["a.sdf", "b.sdf"]
    for missing in (tmp_path / "missing.sdf", tmp_path / "nowhere" / "x"):
        assert main(["evaluate", str(missing), "--no-track"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(missing) in err and "unknown model" not in err


# (SMILES, expected MiDi stability of the molecule): MiDi's allowed_bonds table, quirks included
@pytest.mark.parametrize("smiles, stable", [
    ("CS(C)(=O)=O", True),  # sulfone: neutral S 6
    ("CSC", True),  # thioether: neutral S 2
    ("CS(C)=O", False),  # sulfoxide: neutral S 4 is not in MiDi's table (S 0: 2, 6)
    ("C[S+](C)C", True),  # sulfonium: S+ 3
    ("C[N+](C)(C)C", True),  # ammonium: N+ 4
    ("CC(=O)[O-]", True),  # carboxylate: O- 1
    ("ClCCBr", True),
    ("C[Br+]C", True),  # bromonium: Br+ 2
    ("c1ccc(Cl)cc1", True),  # aromatic: kekulized first
    ("c1cc[nH]c1", True),  # pyrrole N: 3 after kekulization (MiDi's 1.5 sum would read 4)
])
def test_midi_valences_on_charged_sulfur_and_halogen_molecules(smiles, stable):
    m = Chem.AddHs(Chem.MolFromSmiles(smiles))
    assert all(midi_stability(m)) is stable


def test_midi_valences_catch_wrong_bonds():
    ammonium = Chem.AddHs(Chem.MolFromSmiles("C[N+](C)(C)C"))
    neutral = Chem.RWMol(ammonium)
    n = next(a for a in neutral.GetAtoms() if a.GetSymbol() == "N")
    n.SetFormalCharge(0)  # N with 4 bonds and no charge
    flags = midi_stability(neutral)
    assert flags[n.GetIdx()] is False and sum(flags) == len(flags) - 1
    dichloride = Chem.RWMol(Chem.MolFromSmiles("CCl", sanitize=False))
    dichloride.AddAtom(Chem.Atom(6))
    dichloride.AddBond(1, 2, Chem.BondType.SINGLE)  # Cl with two bonds
    assert midi_stability(dichloride)[1] is False
