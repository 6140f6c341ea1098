"""Video in the image domain: moving digits, users' clips, a Latte-style video DiT, the video
classifier behind FVD, GIF/MP4 export and motion-physics metrics.

The images plugin dispatches its video tasks here through five functions: ``video_tasks()``,
``video_config_types(task)``, ``build_video_data(task, cfg, seed)``, ``build_video_task(task,
cfg, info, resolve)`` and ``add_video_data_commands(subparsers)``; ``load_video_samples`` and
``is_video_samples`` read exported clips back.
"""

from __future__ import annotations

from typing import Any

from fick.domains.base import FickError, Resolver, Task

from .commands import add_video_data_commands, write_moving_digits
from .config import VideoClassifierConfig, VideoDataConfig, VideoDiffusionConfig
from .data import build_video_data
from .export import VideoSample, is_video_samples, load_video_samples, write_video_samples
from .moving_digits import MovingDigits, moving_digits

__all__ = [
    "MovingDigits",
    "VideoClassifierConfig",
    "VideoDataConfig",
    "VideoDiffusionConfig",
    "VideoSample",
    "add_video_data_commands",
    "build_video_data",
    "build_video_task",
    "is_video_samples",
    "load_video_samples",
    "moving_digits",
    "video_config_types",
    "video_tasks",
    "write_moving_digits",
    "write_video_samples",
]

_MODEL_CONFIGS = {
    "video-diffusion": VideoDiffusionConfig,
    "video-classifier": VideoClassifierConfig,
}


def video_tasks() -> list[str]:
    """The video task names the images plugin adds to its ``tasks()``."""
    return list(_MODEL_CONFIGS)


def _check(task: str) -> None:
    if task not in _MODEL_CONFIGS:
        raise FickError(
            f"unknown video task '{task}': valid video tasks are {', '.join(_MODEL_CONFIGS)}"
        )


def video_config_types(task: str) -> dict[str, type]:
    """The ``data`` and ``model`` dataclasses of a video task."""
    _check(task)
    return {"data": VideoDataConfig, "model": _MODEL_CONFIGS[task]}


def build_video_task(
    task: str, model_cfg: Any, info: dict[str, Any], resolve: Resolver | None
) -> Task:
    """The network of a video task (``model_cfg``: the dataclass, or a saved config dict)."""
    _check(task)
    from .tasks import VideoClassifierTask, VideoDiffusionTask

    if task == "video-diffusion":
        return VideoDiffusionTask(model_cfg, info, resolve)
    return VideoClassifierTask(model_cfg, info)
