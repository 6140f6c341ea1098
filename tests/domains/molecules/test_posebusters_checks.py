"""PoseBusters and MMFF strain wiring: the same verdicts as direct calls of the libraries."""

import pytest
from fick.domains.molecules.metrics.posebusters_checks import posebusters_checks
from fick.domains.molecules.metrics.strain import mmff_strain
from posebusters import PoseBusters
from rdkit import Chem
from rdkit.Chem import AllChem


@pytest.fixture(scope="module")
def mols():
    out = []
    for s in ["CC(=O)Nc1ccc(O)cc1", "Clc1ccc(Br)cc1", "CCS(=O)(=O)N", "C[N+](C)(C)CC(=O)[O-]"]:
        m = Chem.AddHs(Chem.MolFromSmiles(s))
        AllChem.EmbedMolecule(m, randomSeed=1)
        AllChem.MMFFOptimizeMolecule(m)
        out.append(m)
    bad = Chem.Mol(out[0])  # a heavy atom pulled 1 A out of place: bond lengths fail
    conf = bad.GetConformer()
    p = conf.GetAtomPosition(1)
    conf.SetAtomPosition(1, (p.x + 1.0, p.y, p.z))
    return out + [bad]


def test_posebusters_agrees_with_a_direct_call(mols):
    ours = posebusters_checks(mols, "fast")
    direct = PoseBusters(config="mol_fast").bust(mols, None, None).reset_index(drop=True)
    for i, row in direct.iterrows():
        for column, value in row.items():
            if column == "mol_pred_loaded":
                continue
            key = "pb_" + column.replace("-", "_")
            assert ours[i][key] == float(bool(value)), (i, column)
        assert ours[i]["pb_valid"] == float(all(bool(v) for v in row.values))
    assert [o["pb_valid"] for o in ours] == [1.0, 1.0, 1.0, 1.0, 0.0]
    assert ours[-1]["pb_bond_lengths"] == 0.0


def test_mmff_strain_is_energy_before_minus_after_relaxation(mols):
    relaxed, _ = mmff_strain(mols[0])
    assert relaxed == pytest.approx(0.0, abs=0.05)  # already at its MMFF minimum
    strained, why = mmff_strain(mols[-1])
    m = Chem.Mol(mols[-1])
    props = AllChem.MMFFGetMoleculeProperties(m)
    ff = AllChem.MMFFGetMoleculeForceField(m, props)
    before = ff.CalcEnergy()
    ff.Minimize(maxIts=2000)
    assert why == "" and strained == pytest.approx(before - ff.CalcEnergy(), rel=1e-6)
    assert strained > 10
    cation = Chem.MolFromSmiles("[Xe]")
    assert mmff_strain(cation)[1]  # no conformer / no parameters: a reason, not a crash
