"""The molecule models: equivariant denoisers (EGNN, e3nn), the state codec, the generation task
and the property regressor."""

from .config import MoleculeDataConfig, MoleculeModelConfig, RegressorModelConfig
from .denoiser import MoleculeDenoiser
from .egnn import EGNN
from .regressor import PropertyRegressor
from .state import MoleculeGraph, MoleculeStateCodec, graph_from_counts
from .task import MoleculeDiffusion
from .testing import assert_equivariant

__all__ = [
    "EGNN",
    "MoleculeDataConfig",
    "MoleculeDenoiser",
    "MoleculeDiffusion",
    "MoleculeGraph",
    "MoleculeModelConfig",
    "MoleculeStateCodec",
    "PropertyRegressor",
    "RegressorModelConfig",
    "assert_equivariant",
    "graph_from_counts",
]
