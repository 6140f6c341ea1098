"""Typed config sections of the image domain (validated from YAML by the pipelines).

Companion networks (the VAE under a latent denoiser, the metric classifier) are given as model
references (a shipped name, ``runs:/...``, ``models:/...`` or a path) and resolved at build
time; a saved model stores their full config in place of the reference (see ``saved_config``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fick.domains.base import config_from
from fick.domains.diffusion_config import DiffusionOptions, renamed_to

__all__ = [
    "AutoencoderConfig",
    "ClassifierConfig",
    "DiffusionConfig",
    "ImageDataConfig",
    "config_from",
]


@dataclass
class ImageDataConfig:
    """``data:`` section. ``source`` is ``digits`` (scikit-learn's bundled 8x8 digits, upscaled)
    or ``folder`` (``root``/<class name>/<image files>)."""

    source: str = "digits"
    root: str | None = None
    image_size: int = 16
    channels: int = 1  # 1 grayscale, 3 RGB
    resize: str = "bilinear"  # bilinear | bicubic
    val_fraction: float = 0.2
    split_seed: int = 0  # the split is fixed by this seed, not by the training seed
    augment: list[str] = field(default_factory=list)  # off by default; "hflip", "shift"


@dataclass
class DiffusionConfig(DiffusionOptions):
    """``model:`` section of the ``diffusion`` task (process, objective and sampling defaults:
    ``DiffusionOptions``)."""

    network: str = "dit"  # dit | unet
    # DiT
    patch_size: int = 2
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    # U-Net
    unet_channels: list[int] = field(default_factory=lambda: [32, 64])
    unet_blocks: int = 1
    # latent diffusion: a reference to a trained autoencoder (None: pixel space)
    vae: str | dict | None = None  # saved models hold the embedded config (a dict) here
    class_dropout: float = 0.1
    # the classifier whose features define the metrics (None: metrics without it are skipped)
    metrics_classifier: str | dict | None = None  # saved models: the embedded config
    # old names of process / process_options (configs and shipped models before the rename)
    schedule: str | None = renamed_to("process")
    schedule_args: dict | None = renamed_to("process_options")


@dataclass
class AutoencoderConfig:
    """``model:`` section of the ``autoencoder`` task (a KL-VAE)."""

    latent_channels: int = 4
    downsample: int = 2
    width: int = 32
    kl_weight: float = 1e-4


@dataclass
class ClassifierConfig:
    """``model:`` section of the ``classifier`` task."""

    widths: list[int] = field(default_factory=lambda: [32, 64])
    feature_dim: int = 64
    dropout: float = 0.2
    label_smoothing: float = 0.0


