"""RDKit helpers for building molecules from atoms and coordinates and perceiving bonds.

Bond perception from XYZ (``rdDetermineBonds``) can hang or fail: it is guarded by an atom cap
and an iteration limit on the bond-order search (RDKit's C++ cannot be interrupted in-process,
so there is no wall-clock limit). Order: connect-the-dots connectivity + bond orders; if that
fails or needs formal charges, extended-Hueckel connectivity + bond orders (strained cages where
covalent radii connect too much), keeping the result with fewer charges; last, connectivity only
(all single bonds). On QM9 this reproduces the dataset's SMILES for 99.83% of molecules. The
method used is returned so datasets can report how bonds were obtained.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from rdkit import Chem, RDLogger, rdBase
from rdkit.Chem import rdDetermineBonds
from rdkit.Geometry import Point3D

__all__ = [
    "PERCEPTION_METHODS",
    "canonical_smiles",
    "canonical_smiles_set",
    "keeping_rdkit_log_state",
    "kekulized_bonds",
    "mol_from_atoms",
    "perceive_bonds",
    "smiles_to_canonical",
]

# fick reports why a molecule is invalid in its scores; RDKit's own lines would repeat it.
RDLogger.DisableLog("rdApp.*")

# Codes stored per molecule in caches: how its bonds were obtained.
PERCEPTION_METHODS = ("file", "connect-the-dots", "hueckel", "connectivity-only", "none")

_RD_BOND = {
    1: Chem.BondType.SINGLE,
    2: Chem.BondType.DOUBLE,
    3: Chem.BondType.TRIPLE,
    4: Chem.BondType.AROMATIC,
}
_BOND_CODE = {v: k for k, v in _RD_BOND.items()}


@contextmanager
def keeping_rdkit_log_state() -> Iterator[None]:
    """Put RDKit's log switches back as they were, whatever the code inside turned on.

    posebusters calls ``rdBase.LogToPythonLogger()`` when imported and
    ``RDLogger.EnableLog("rdApp.*")`` after checking each molecule; both turn every RDKit log
    (debug and info too) back on for the rest of the process, and each later invalid molecule
    then prints "Explicit valence ... is greater than permitted". ``rdBase.BlockLogs`` cannot
    undo that: it only re-enables what it disabled itself."""
    status = rdBase.LogStatus()  # "rdApp.debug:disabled\nrdApp.info:enabled\n..."
    try:
        yield
    finally:
        for line in status.splitlines():
            name, _, state = line.partition(":")
            (rdBase.EnableLog if state == "enabled" else rdBase.DisableLog)(name)


@contextmanager
def _quiet_native_output() -> Iterator[None]:
    """Silence C-level stdout/stderr (RDKit's Hueckel code prints warnings straight to them)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, devnull):
            os.close(fd)


def mol_from_atoms(
    symbols: Sequence[str],
    pos: np.ndarray,
    charges: Sequence[int] | None = None,
    bonds: Sequence[tuple[int, int, int]] | None = None,
    *,
    no_implicit: bool = False,
) -> Chem.RWMol:
    """An (unsanitized) RDKit molecule with a 3D conformer; ``bonds`` as (i, j, code 1..4).

    ``no_implicit=True`` forbids RDKit from adding implicit hydrogens (use when all hydrogens
    are explicit atoms and a missing one must show as an error, not be filled in)."""
    mol = Chem.RWMol()
    conf = Chem.Conformer(len(symbols))
    pos = np.asarray(pos, dtype=np.float64)
    for i, s in enumerate(symbols):
        atom = Chem.Atom(s)
        if charges is not None:
            atom.SetFormalCharge(int(charges[i]))
        atom.SetNoImplicit(no_implicit)
        mol.AddAtom(atom)
        conf.SetAtomPosition(i, Point3D(*pos[i].tolist()))
    for i, j, code in bonds or ():
        mol.AddBond(int(i), int(j), _RD_BOND[int(code)])
        if int(code) == 4:
            mol.GetAtomWithIdx(int(i)).SetIsAromatic(True)
            mol.GetAtomWithIdx(int(j)).SetIsAromatic(True)
            mol.GetBondBetweenAtoms(int(i), int(j)).SetIsAromatic(True)
    mol.AddConformer(conf, assignId=True)
    return mol


def perceive_bonds(
    symbols: Sequence[str],
    pos: np.ndarray,
    *,
    charge: int = 0,
    max_atoms: int = 100,
    max_iterations: int = 10_000,
) -> tuple[Chem.RWMol, str]:
    """Bonds and formal charges from coordinates; returns the molecule and the method used.

    Never raises for chemistry reasons: the last fallback is connectivity only (single bonds),
    and above ``max_atoms`` (where perception may take very long) no bonds at all ("none")."""
    if len(symbols) > max_atoms:
        return mol_from_atoms(symbols, pos), "none"
    best: tuple[Chem.RWMol, str, int] | None = None
    for method, hueckel in (("connect-the-dots", False), ("hueckel", True)):
        mol = mol_from_atoms(symbols, pos)
        try:
            if hueckel:
                with _quiet_native_output():
                    rdDetermineBonds.DetermineBonds(
                        mol, useHueckel=True, charge=charge, embedChiral=False,
                        maxIterations=max_iterations,
                    )
            else:
                rdDetermineBonds.DetermineBonds(
                    mol, charge=charge, embedChiral=False, maxIterations=max_iterations
                )
        except Exception:  # noqa: BLE001 - RDKit raises ValueError/RuntimeError subtypes
            continue
        # Covalent radii over-connect strained cages (e.g. bicyclo[1.1.1]pentane bridgeheads),
        # which then shows as spurious formal charges: a charged result is checked against
        # the Hueckel connectivity, and the one with fewer charges kept.
        separation = sum(abs(a.GetFormalCharge()) for a in mol.GetAtoms())
        if best is None or separation < best[2]:
            best = (mol, method, separation)
        if separation == 0:
            break
    if best is not None:
        return best[0], best[1]
    mol = mol_from_atoms(symbols, pos)
    try:
        rdDetermineBonds.DetermineConnectivity(mol)
        return mol, "connectivity-only"
    except Exception:  # noqa: BLE001
        return mol_from_atoms(symbols, pos), "none"


def kekulized_bonds(mol: Chem.Mol) -> list[tuple[int, int, int]]:
    """(i, j, code) with i < j; aromatic bonds kekulized to 1/2 where RDKit can, else code 4."""
    work = Chem.Mol(mol)
    if any(b.GetIsAromatic() or b.GetBondType() == Chem.BondType.AROMATIC
           for b in work.GetBonds()):
        try:
            Chem.Kekulize(work, clearAromaticFlags=True)
        except Exception:  # noqa: BLE001 - keep aromatic bonds as code 4
            work = Chem.Mol(mol)
    out = []
    for b in work.GetBonds():
        i, j = sorted((b.GetBeginAtomIdx(), b.GetEndAtomIdx()))
        code = _BOND_CODE.get(b.GetBondType())
        if code is None:  # dative, zero, quadruple ...: count as single (documented)
            code = 1
        out.append((i, j, code))
    return out


def canonical_smiles(mol: Chem.Mol | None) -> str | None:
    """Canonical SMILES without stereo and without explicit hydrogens; None if unsanitizable.

    One canonical form for training sets and generated molecules alike, so novelty compares
    like with like (coordinates alone do not give stereo unless it is perceived)."""
    if mol is None:
        return None
    try:
        m = Chem.Mol(mol)
        Chem.SanitizeMol(m)
        m = Chem.RemoveHs(m, sanitize=False)
        Chem.RemoveStereochemistry(m)
        return Chem.MolToSmiles(m, isomericSmiles=False)
    except Exception:  # noqa: BLE001
        return None


def smiles_to_canonical(smiles: str) -> str | None:
    """``canonical_smiles`` of a SMILES string (None if RDKit cannot parse it)."""
    try:
        return canonical_smiles(Chem.MolFromSmiles(smiles))
    except Exception:  # noqa: BLE001
        return None


def canonical_smiles_set(smiles: Iterable[str]) -> set[str]:
    """The canonical forms of SMILES strings (unparsable ones dropped): a training set for
    novelty, e.g. ``canonical_smiles_set(train_dataset.smiles())``."""
    out = {smiles_to_canonical(s) for s in smiles}
    out.discard(None)
    return out  # type: ignore[return-value]
