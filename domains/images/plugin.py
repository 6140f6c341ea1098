"""The image domain plugin: digits / image folders, DiT or U-Net diffusion (pixel or latent),
a KL-VAE and the metric classifier."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fick.domains.base import DataBundle, FickError, Resolver, Task

from .commands import add_data_commands
from .companion_tasks import AutoencoderTask, ClassifierTask
from .config import AutoencoderConfig, ClassifierConfig, DiffusionConfig, ImageDataConfig, coerce_config
from .export import load_images

__all__ = ["ImagesPlugin"]

_MODEL_CONFIGS = {"diffusion": DiffusionConfig, "autoencoder": AutoencoderConfig, "classifier": ClassifierConfig}
PRETRAINED_DIR = Path(__file__).resolve().parent / "pretrained"


class ImagesPlugin:
    name = "images"

    def tasks(self) -> list[str]:
        return list(_MODEL_CONFIGS)

    def _check_task(self, task: str) -> None:
        if task not in _MODEL_CONFIGS:
            raise FickError(f"unknown images task '{task}': valid tasks are {', '.join(_MODEL_CONFIGS)}")

    def config_types(self, task: str) -> dict[str, type]:
        self._check_task(task)
        return {"data": ImageDataConfig, "model": _MODEL_CONFIGS[task]}

    def build_data(self, task: str, data_cfg: Any, *, seed: int) -> DataBundle:
        from .data import build_image_data

        self._check_task(task)
        cfg = coerce_config(ImageDataConfig, data_cfg)
        bundle = build_image_data(cfg)
        bundle.info["data"] = asdict(cfg)  # lets a saved model rebuild its reference data offline
        return bundle

    def build_task(self, task: str, model_cfg: Any, info: dict[str, Any], resolve: Resolver | None) -> Task:
        self._check_task(task)
        if task == "diffusion":
            from .diffusion_task import DiffusionTask

            return DiffusionTask(model_cfg, info, resolve)
        if task == "autoencoder":
            return AutoencoderTask(model_cfg, info)
        return ClassifierTask(model_cfg, info)

    def load_samples(self, path: Path) -> list:
        return load_images(Path(path))

    def add_data_commands(self, parser: argparse.ArgumentParser) -> None:
        add_data_commands(parser)

    def pretrained(self) -> dict[str, Path]:
        if not PRETRAINED_DIR.is_dir():
            return {}
        return {p.name: p for p in sorted(PRETRAINED_DIR.iterdir())
                if (p / "model.safetensors").is_file() and (p / "fick.yaml").is_file()}
