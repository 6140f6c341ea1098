"""Molecule data: the record format, QM9 (qm9pack, EDM split), MOSES3D (MOSES SMILES in 3D),
users' SDF/MOL/MOL2/XYZ imports."""

from . import importer
from .importer import *  # noqa: F403 - its __all__, listed once there
from .moses3d import (
    MOSES3D_ELEMENTS,
    MOSES3D_PROPERTIES,
    MOSES3D_SPLITS,
    MOSES3D_UNITS,
    prepare_moses3d,
)
from .moses3d_dataset import build_moses3d_data, is_moses3d, load_moses3d, load_named_moses3d
from .perception import canonical_smiles, canonical_smiles_set
from .qm9 import QM9, QM9_ELEMENTS, QM9_PROPERTIES, QM9_UNITS, edm_split, load_qm9, load_qm9_split
from .records import (
    MoleculeDataset,
    PackedMolecules,
    cache_root,
    collate,
    compute_info,
    make_record,
)

__all__ = [
    *importer.__all__,
    "MOSES3D_ELEMENTS",
    "MOSES3D_PROPERTIES",
    "MOSES3D_SPLITS",
    "MOSES3D_UNITS",
    "build_moses3d_data",
    "is_moses3d",
    "load_moses3d",
    "load_named_moses3d",
    "prepare_moses3d",
    "QM9",
    "QM9_ELEMENTS",
    "QM9_PROPERTIES",
    "QM9_UNITS",
    "MoleculeDataset",
    "PackedMolecules",
    "cache_root",
    "canonical_smiles",
    "canonical_smiles_set",
    "collate",
    "compute_info",
    "edm_split",
    "load_qm9",
    "load_qm9_split",
    "make_record",
]
