"""The image domain plugin: digits / image folders, DiT or U-Net diffusion (pixel or latent),
a KL-VAE and the metric classifier; video tasks are dispatched to ``fick.domains.images.video``."""

from __future__ import annotations

import argparse
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fick.domains.base import DataBundle, FickError, PluginDefaults, Resolver, Task

from .commands import add_data_commands
from .companion_tasks import AutoencoderTask, ClassifierTask
from .config import (
    AutoencoderConfig,
    ClassifierConfig,
    DiffusionConfig,
    ImageDataConfig,
)
from .export import load_images

__all__ = ["ImagesPlugin"]

_MODEL_CONFIGS = {
    "diffusion": DiffusionConfig,
    "autoencoder": AutoencoderConfig,
    "classifier": ClassifierConfig,
}
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


def _video():
    """The video sub-package, or None when it cannot be imported (image tasks keep working)."""
    try:
        from . import video
    except Exception as err:  # noqa: BLE001 - report, never take the image tasks down
        warnings.warn(
            f"images: video tasks unavailable ({type(err).__name__}: {err})", stacklevel=3
        )
        return None
    return video


class ImagesPlugin(PluginDefaults):
    name = "images"
    pretrained_dir = PRETRAINED_DIR

    def tasks(self) -> list[str]:
        video = _video()
        return list(_MODEL_CONFIGS) + (video.video_tasks() if video else [])

    def _video_task(self, task: str):
        """The video module when ``task`` is one of its tasks, None for image tasks."""
        if task in _MODEL_CONFIGS:
            return None
        video = _video()
        if video is not None and task in video.video_tasks():
            return video
        raise FickError(f"unknown images task '{task}': valid tasks are {', '.join(self.tasks())}")

    def config_types(self, task: str) -> dict[str, type]:
        video = self._video_task(task)
        if video is not None:
            return video.video_config_types(task)
        return {"data": ImageDataConfig, "model": _MODEL_CONFIGS[task]}

    def build_data(self, task: str, data_cfg: Any, *, seed: int) -> DataBundle:
        video = self._video_task(task)
        if video is not None:
            return video.build_video_data(task, data_cfg, seed=seed)
        from .data import build_image_data

        bundle = build_image_data(data_cfg)
        bundle.info["data"] = asdict(data_cfg)  # a saved model rebuilds its reference data offline
        return bundle

    def build_task(
        self, task: str, model_cfg: Any, info: dict[str, Any], resolve: Resolver | None
    ) -> Task:
        video = self._video_task(task)
        if video is not None:
            return video.build_video_task(task, model_cfg, info, resolve)
        if task == "diffusion":
            from .diffusion_task import ImageDiffusionTask

            return ImageDiffusionTask(model_cfg, info, resolve)
        if task == "autoencoder":
            return AutoencoderTask(model_cfg, info)
        return ClassifierTask(model_cfg, info)

    def load_samples(self, path: Path) -> list:
        video = _video()
        if video is not None and video.is_video_samples(Path(path)):
            return video.load_video_samples(Path(path))
        return load_images(Path(path))

    def add_data_commands(self, parser: argparse.ArgumentParser) -> None:
        subparsers = add_data_commands(parser)
        video = _video()
        if video is not None:
            video.add_video_data_commands(subparsers)
