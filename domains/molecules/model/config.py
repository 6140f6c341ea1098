"""The "data" and "model" sections of molecule configs (validated by the pipelines)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fick.domains.base import FickError, config_from

__all__ = [
    "MoleculeDataConfig",
    "MoleculeModelConfig",
    "RegressorModelConfig",
    "config_from",
]

SPLIT_HALVES = ("all", "first-half", "second-half")


@dataclass
class MoleculeDataConfig:
    """Which molecules to train on.

    ``train_half``: EDM's protocol for conditional generation trains the property predictor on
    the first half of the training split and the conditional generator on the second half.
    ``limit`` keeps the first N training molecules (tiny configs); ``val_limit`` the first N
    validation molecules (the validation loss is cheap, but not free on a CPU).
    """

    dataset: str = "qm9"  # "qm9", or the name of a dataset made by `fick data molecules import`
    train_half: str = "all"  # all | first-half | second-half
    limit: int | None = None
    val_limit: int | None = 2000
    max_atoms: int | None = None  # drop larger molecules from training (None: keep all)
    cache_dir: str | None = None

    def __post_init__(self):
        if self.train_half not in SPLIT_HALVES:
            raise FickError(
                f"data.train_half={self.train_half!r} is not valid: use one of {list(SPLIT_HALVES)}"
            )


@dataclass
class MoleculeModelConfig:
    """The generative model: state, network, noise process, loss and default sampler."""

    # state: atoms-only mode (bonds=False, charges=False) is EDM's setting
    bonds: bool = True
    charges: bool = True
    type_scale: float = 1.0  # one-hot types are scaled by this before noising
    charge_scale: float = 1.0
    bond_scale: float = 1.0
    # network
    network: str = "egnn"  # egnn | e3nn
    hidden: int = 128
    edge_hidden: int = 32
    message_dim: int = 64
    layers: int = 6
    num_rbf: int = 16
    rbf_max: float = 6.0
    coord_range: float = 10.0
    aggregation_norm: float = 10.0
    cutoff: float | None = None
    lmax: int = 1  # e3nn only
    bf16: bool = False  # bfloat16 autocast of the network's linear maps (fast on CPUs with AMX)
    compile: bool = False  # torch.compile the EGNN layers (egnn only; eager if unavailable)
    # how types, charges and bonds are noised: "gaussian" (Gaussian noise on scaled one-hots,
    # every core sampler applies) or "mask" (masking discrete flow, fick.core.discrete: a row
    # is either its clean class or masked; the CTMC sampler runs beside the continuous one)
    categorical: str = "gaussian"
    discrete_eta: float = 0.0  # the masking CTMC's re-masking rate when sampling (mask only)
    # noise process
    process: str = "flow"  # a fick.core.schedules.by_name name: flow, polynomial, vp_continuous...
    # e.g. {shift: 2.0} for flow: the sampling grid's time shift (more steps near the data end
    # when shift < 1); training times are drawn from the Beta distribution below
    process_options: dict[str, Any] = field(default_factory=dict)
    prediction: str = "sample"  # the network predicts the clean molecule (x0)
    # training time distribution (flow, t=0 data): Beta(time_alpha, time_beta); Beta(1, 2) has
    # density 2 (1 - t), i.e. more weight near the data end
    time_alpha: float = 1.0
    time_beta: float = 2.0
    pos_weight: float = 3.0
    type_weight: float = 0.4
    charge_weight: float = 1.0
    bond_weight: float = 2.0
    self_condition: bool = False
    # FlowMol3's train-time geometry distortion: Gaussian noise of this std (Angstrom) added to
    # the noisy positions of a share ``distortion_prob`` of the training molecules (0: off)
    distortion: float = 0.0
    distortion_prob: float = 0.5
    # FlowMol3's fake atoms: round(fake_atoms * n) "no atom" atoms added to each training
    # molecule of n atoms (0: off); a sample's atom count then includes them (fake_atoms.py)
    fake_atoms: float = 0.0
    fake_atom_spread: float = 1.0  # Angstrom around a random real atom
    # pair each training molecule with its noise by permutation + rotation OT (alignment.py)
    ot_align: bool = False
    # property conditioning (names from info["properties"]) with dropout for CFG
    condition: list[str] = field(default_factory=list)
    condition_dropout: float = 0.1
    # property predictor for gradient guidance: a model reference (name, path, runs:/...) that
    # the pipelines resolve, or (in saved configs) {"config": ..., "info": ...} embedded
    regressor: Any = None
    # sampling defaults: ancestral sampling beats the deterministic ODE on QM9 (50 steps,
    # 300 samples of the shipped model: molecule stability 39 -> 48%, from its own bonds
    # 45 -> 58%, validity 74 -> 81%), as other bond-generating models report for stochastic
    # samplers
    sampler: str = "ddpm"
    # the default sampler's options (eta, churn ...; fick.domains.diffusion_config)
    sampler_options: dict = field(default_factory=dict)
    steps: int = 100

    def __post_init__(self):
        if not isinstance(self.sampler_options, dict):
            raise FickError(f"model.sampler_options must be a mapping such as {{eta: 3.0}}, got "
                            f"{self.sampler_options!r}")
        if self.network not in ("egnn", "e3nn"):
            raise FickError(f"model.network={self.network!r} is not valid: use egnn or e3nn")
        if self.categorical not in ("gaussian", "mask"):
            raise FickError(f"model.categorical={self.categorical!r} is not valid: use gaussian "
                            "or mask")
        if self.prediction != "sample":
            raise FickError(
                "model.prediction must be 'sample': the categorical components are trained with "
                "cross-entropy on the predicted clean molecule"
            )


@dataclass
class RegressorModelConfig:
    """An EGNN property predictor on clean molecules (EDM's protocol for property MAE)."""

    properties: list[str] = field(default_factory=lambda: ["alpha"])
    hidden: int = 128
    layers: int = 7
    num_rbf: int = 16
    rbf_max: float = 6.0
    cutoff: float | None = None
    charges: bool = True
    loss: str = "l1"  # l1 | mse (on properties normalised by mean / MAD)


