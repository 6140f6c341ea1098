"""What every audio companion task shares: its mel front end, rebuilt from the model's info
(settings and the training data's normalisation statistics as buffers), so that a saved model is
self-contained; ``info`` is the dataset's info dict."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fick.domains.audio.features import MelFrontEnd
from fick.domains.base import FickError, Task

__all__ = ["AudioTask", "front_end_from_info"]


def front_end_from_info(info: dict[str, Any]) -> MelFrontEnd:
    if "mel" not in info:
        raise FickError(
            "model info lacks the mel front end settings: rebuild it from an audio "
            "dataset (fick train with domain: audio)"
        )
    return MelFrontEnd(info["mel"], info.get("mel_mean", 0.0), info.get("mel_std", 1.0))


class AudioTask(Task):
    def __init__(self, cfg, info: dict[str, Any]):
        super().__init__()
        self.cfg, self.info = cfg, dict(info)
        self.front = front_end_from_info(info)

    def saved_config(self) -> dict[str, Any]:
        return asdict(self.cfg)
