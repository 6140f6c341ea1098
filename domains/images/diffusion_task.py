"""The ``diffusion`` task: a class-conditional DiT or U-Net on pixels or VAE latents.

The process, loss, latent scale, companions, condition dropout and sampling loop are the shared
:class:`fick.domains.diffusion.DiffusionTask`'s; this module supplies the network, the label
handling (null class for CFG), the VAE encode / decode of latent models and the metrics. The
video task (``video/tasks.py``) builds on this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
from fick.domains.base import DataBundle, FickError, Resolver
from fick.domains.diffusion import DiffusionTask
from torch import nn

from .companion_tasks import AutoencoderTask, ClassifierTask
from .conditions import labels_for
from .config import DiffusionConfig, ImageDataConfig, config_from
from .dit import DiT
from .export import ImageSample, write_samples
from .metrics import frechet_distance, inception_score
from .unet import UNet

__all__ = ["ImageDiffusionTask"]


class ImageDiffusionTask(DiffusionTask):
    config_type: ClassVar[type] = DiffusionConfig
    metric_notes = {
        "accuracy": "the metric classifier sees the asked-for class",
        "fid": "Frechet distance in the metric classifier's features (lower is better; biased "
               "upward for few samples)",
        "is": "Inception score in the metric classifier (higher: confident and varied)",
        "frame_accuracy": "frames whose digit the image classifier reads as asked",
        "fid_frames": "FID of single frames in the image classifier's features",
        "fvd": "Frechet distance in the video classifier's features (lower is better)",
        "motion_rmse_px": "tracked digit's path against the recipe's physics, pixels",
    }
    companion_types = {
        "autoencoder": ("vae", AutoencoderTask),
        "metrics_classifier": ("metrics_classifier", ClassifierTask),
    }

    def __init__(self, cfg: Any, info: dict[str, Any], resolve: Resolver | None = None):
        super().__init__(config_from(self.config_type, cfg), info, resolve)
        size, channels = info["image_size"], info["channels"]
        if self.autoencoder is not None:
            vae = self.autoencoder.vae
            if vae.channels != channels:
                raise FickError(
                    f"model.vae has {vae.channels} image channels but the data has {channels}: "
                    "use an autoencoder trained on this data"
                )
            size, channels = size // vae.downsample, vae.latent_channels
        self.state_shape = self.shape_of_state(size, channels)
        self.net: nn.Module = self.build_network(size, channels)

    def shape_of_state(self, size: int, channels: int) -> tuple[int, ...]:
        return (channels, size, size)

    def dit_options(self, size: int, channels: int) -> dict[str, Any]:
        """The (image or video) DiT's options from the config and the state's geometry."""
        options = {k: getattr(self.cfg, k) for k in ("patch_size", "width", "depth", "heads")}
        options.update(mlp_ratio=self.cfg.mlp_ratio, image_size=size, channels=channels)
        return {**options, "num_classes": self.info["num_classes"]}

    def build_network(self, size: int, channels: int) -> nn.Module:
        if self.cfg.network == "dit":
            return DiT(**self.dit_options(size, channels))
        if self.cfg.network == "unet":
            return UNet(
                image_size=size,
                channels=channels,
                num_classes=self.info["num_classes"],
                channels_per_level=tuple(self.cfg.unet_channels),
                blocks_per_level=self.cfg.unet_blocks,
            )
        raise FickError(f"unknown model.network '{self.cfg.network}': use dit or unet")

    # -- images <-> state -----------------------------------------------------------------
    def encode_unscaled(self, images: torch.Tensor) -> torch.Tensor:
        """Images -> VAE posterior means (latent models) or the pixels."""
        if self.autoencoder is None:
            return images
        return self.autoencoder.vae.encode(images)[0]

    def decode_unscaled(self, state: torch.Tensor) -> torch.Tensor:
        if self.autoencoder is None:
            return state.clamp(-1, 1)
        return self.autoencoder.vae.decode(state).clamp(-1, 1)

    # -- conditions -----------------------------------------------------------------------
    def training_inputs(self, batch):
        images, labels = batch
        return images, {"labels": labels}

    def sample_conditions(self, n, condition, device):
        return {"labels": labels_for(n, condition, self.info["class_names"], device)}

    def to_samples(self, decoded, conditions) -> list[ImageSample]:
        labels = conditions["labels"].tolist()
        return [ImageSample(img, int(y)) for img, y in zip(decoded, labels)]

    # -- metrics and export ---------------------------------------------------------------
    def _real_data(self, data: DataBundle | None) -> DataBundle | None:
        if data is not None or "data" not in self.info:
            return data
        from .data import build_image_data

        try:  # digits ship with scikit-learn, so evaluation works offline from the saved info
            return build_image_data(config_from(ImageDataConfig, self.info["data"]))
        except FickError:
            return None

    @torch.no_grad()
    def evaluate(self, samples: list[ImageSample], data: DataBundle | None) -> dict[str, float]:
        """Accuracy of the samples' labels, FID against the validation images and IS, all in
        the metric classifier's feature space; ``*_real`` keys are the same metrics of the real
        validation images (FID: real validation vs real train), the reference row."""
        if self.metrics_classifier is None:  # pipelines skip the metrics of such a model
            raise NotImplementedError(
                "this images model has no metrics_classifier: train one with "
                "configs/images/digits-classifier.yaml and set model.metrics_classifier"
            )
        clf = self.metrics_classifier
        device = self.latent_scale.device
        images = torch.stack([s.image for s in samples]).to(device)
        feats, logits = clf.features_and_logits(images)
        metrics: dict[str, float] = {
            "num_samples": float(len(samples)),
            "is": inception_score(logits),
        }
        labelled = [i for i, s in enumerate(samples) if s.label is not None]
        if labelled:
            labels = torch.tensor([samples[i].label for i in labelled], device=device)
            metrics["accuracy"] = float((logits[labelled].argmax(1) == labels).float().mean())
        data = self._real_data(data)
        if data is not None and data.val is not None:
            val_x, val_y = data.val.images.to(device), data.val.labels.to(device)
            train_x = data.train.images.to(device)
            val_f, val_logits = clf.features_and_logits(val_x)
            train_f, _ = clf.features_and_logits(train_x)
            metrics["fid"] = frechet_distance(feats, val_f)
            metrics["fid_real"] = frechet_distance(train_f, val_f)
            metrics["is_real"] = inception_score(val_logits)
            metrics["accuracy_real"] = float((val_logits.argmax(1) == val_y).float().mean())
        return metrics

    def export(
        self, samples: list[ImageSample], out_dir: Path, prefix: str = "sample"
    ) -> list[Path]:
        return write_samples(samples, out_dir, prefix)
