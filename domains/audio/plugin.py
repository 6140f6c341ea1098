"""The audio domain plugin: what ``fick`` pipelines see of audio (see fick.domains.base)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from fick.domains.audio.config import (
    AudioDataConfig,
    AutoencoderConfig,
    ClassifierConfig,
    DiffusionConfig,
    VocoderConfig,
)
from fick.domains.base import DataBundle, FickError, PluginDefaults, Resolver, Task

__all__ = ["AudioPlugin"]

_MODEL_CONFIGS = {
    "diffusion": DiffusionConfig,
    "autoencoder": AutoencoderConfig,
    "vocoder": VocoderConfig,
    "classifier": ClassifierConfig,
}
PRETRAINED_DIR = Path(__file__).parent / "pretrained"


class AudioPlugin(PluginDefaults):
    """Spectrogram latent diffusion for labelled audio clips (folders, manifests, spoken digits)."""

    name = "audio"
    pretrained_dir = PRETRAINED_DIR

    def tasks(self) -> list[str]:
        return list(_MODEL_CONFIGS)

    def _check(self, task: str) -> None:
        if task not in _MODEL_CONFIGS:
            raise FickError(f"unknown audio task {task!r}: use one of {self.tasks()}")

    def config_types(self, task: str) -> dict[str, type]:
        self._check(task)
        return {"data": AudioDataConfig, "model": _MODEL_CONFIGS[task]}

    def build_data(self, task: str, data_cfg: Any, *, seed: int = 0) -> DataBundle:
        from fick.domains.audio.data import build_audio_data

        self._check(task)
        bundle = build_audio_data(data_cfg, seed=seed)
        if task == "classifier" and bundle.info["num_classes"] < 2:
            raise FickError("the classifier task needs labelled clips: one subfolder per label")
        return bundle

    def build_task(
        self, task: str, model_cfg: Any, info: dict[str, Any], resolve: Resolver | None
    ) -> Task:
        from fick.domains.audio.tasks import AutoencoderTask, ClassifierTask, VocoderTask

        self._check(task)
        # A copy: the diffusion task writes its embedded companions into its config.
        cfg = dataclasses.replace(model_cfg)
        if task == "diffusion":
            from fick.domains.audio.diffusion_task import LatentDiffusionTask

            return LatentDiffusionTask(cfg, info, resolve)
        return {
            "autoencoder": AutoencoderTask,
            "vocoder": VocoderTask,
            "classifier": ClassifierTask,
        }[task](cfg, info)

    def load_samples(self, path: Path) -> list:
        from fick.domains.audio.export import load_clips_folder

        return load_clips_folder(path)

    def add_data_commands(self, parser: argparse.ArgumentParser) -> None:
        from fick.domains.audio.commands import add_data_commands

        add_data_commands(parser)
