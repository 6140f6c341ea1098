"""Typed config sections of the video tasks (``video-diffusion``, ``video-classifier``).

Companion networks are model references resolved at build time, as in the image domain: the
image VAE under a latent video model, the image classifier (per-frame accuracy and FID) and the
video classifier (Frechet video distance). A saved model holds their embedded config instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fick.domains.diffusion_config import DiffusionOptions, renamed_to

__all__ = ["RECIPE_OPTIONS", "VideoClassifierConfig", "VideoDataConfig", "VideoDiffusionConfig"]

# the moving-digits recipe: the ``moving_digits`` keyword arguments besides ``size`` and
# ``num_digits``, spelled the same in ``VideoDataConfig`` and ``fick data images moving-digits``
RECIPE_OPTIONS = ("frames", "digit_size", "min_speed", "max_speed")


@dataclass
class VideoDataConfig:
    """``data:`` section. ``source``: ``moving-digits`` (synthesised, the Moving MNIST recipe) or
    ``folder`` (``root``/<clip>/ frame images, or video files, with an optional ``labels.csv`` of
    ``clip,label`` rows, the layout ``fick data images moving-digits`` writes)."""

    source: str = "moving-digits"
    root: str | None = None
    frames: int = 16
    image_size: int = 32
    channels: int = 1  # 1 grayscale, 3 RGB
    # moving digits
    num_digits: int = 1
    digit_size: int = 14
    min_speed: float = 1.0  # pixels per frame
    max_speed: float = 3.0
    num_train: int = 2048
    num_val: int = 256
    # folders: clips longer than ``frames`` give several windows, ``frame_step`` subsamples time
    frame_step: int = 1
    val_fraction: float = 0.2
    split_seed: int = 0  # the data and its split are fixed by this seed, not the training seed

    def moving_digits_recipe(self) -> dict[str, Any]:
        """The ``moving_digits`` keyword arguments this config asks for."""
        recipe = {k: getattr(self, k) for k in RECIPE_OPTIONS}
        return {**recipe, "size": self.image_size, "num_digits": self.num_digits}


@dataclass
class VideoDiffusionConfig(DiffusionOptions):
    """``model:`` section of ``video-diffusion``: a Latte-style video DiT (``depth`` pairs of
    spatial + temporal adaLN-Zero blocks); process, objective and sampling defaults:
    ``DiffusionOptions``."""

    patch_size: int = 2
    width: int = 128
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    class_dropout: float = 0.1
    vae: Any = None  # image autoencoder reference (None: pixel space); saved: embedded config
    metrics_classifier: Any = None  # image classifier reference (per-frame accuracy, FID)
    video_classifier: Any = None  # video classifier reference (FVD)
    num_metric_samples: int = 0  # real validation clips compared with samples (0: all)
    # old names of process / process_options (configs and shipped models before the rename)
    schedule: str | None = renamed_to("process")
    schedule_args: dict | None = renamed_to("process_options")


@dataclass
class VideoClassifierConfig:
    """``model:`` section of ``video-classifier``: a small 3D CNN whose pooled features define
    the Frechet video distance."""

    widths: list[int] = field(default_factory=lambda: [16, 32, 64])
    feature_dim: int = 64
    dropout: float = 0.2
    label_smoothing: float = 0.0
