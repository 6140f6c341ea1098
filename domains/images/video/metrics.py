"""Video sample metrics, with networks trained by fick (no downloaded weights).

- ``motion_rmse_px`` / ``speed_error``: temporal consistency against the moving-digits physics
  (``physics.py``).
- ``frame_accuracy`` / ``fid_frames``: per-frame class accuracy and FID in the image classifier's
  feature space. The image classifier is trained on whole digits, so each frame is cut into one
  crop per digit (a sprite-sized box around the tracked centroid), resized to the classifier's
  image size; a frame is correct when its crops' predicted digits (sorted) are the clip's label.
  Other clips are classified as whole frames (FID only).
- ``fvd`` / ``video_accuracy``: Frechet video distance and class accuracy in the feature space
  of the video classifier (``video_classifier.py``).
``*_real`` keys are the same metrics of real clips: validation clips for the accuracies and the
physics, training clips against validation clips (as many as compared) for the distances.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from fick.domains.base import DataBundle

from ..metrics import frechet_distance
from .export import VideoSample
from .physics import digit_centroids, motion_physics_error

__all__ = ["digit_crops", "video_metrics"]


def digit_crops(
    videos: np.ndarray, centres: np.ndarray, digit_size: int, out_size: int
) -> torch.Tensor:
    """Sprite-sized crops around ``centres`` (N, T, D, 2) of ``videos`` (N, T, H, W) in [0, 1],
    resized to ``out_size``: (N*T*D, 1, out_size, out_size) in [-1, 1]. Boxes are kept inside
    the frame; a digit that was not found (NaN centre) is cropped at the frame centre."""
    n, t_len, h, w = videos.shape
    half = digit_size / 2.0
    safe = np.where(np.isnan(centres), h / 2.0, centres)
    corner = np.rint(safe - half + 0.5).astype(np.int64)
    corner[..., 0] = corner[..., 0].clip(0, h - digit_size)
    corner[..., 1] = corner[..., 1].clip(0, w - digit_size)
    crops = np.empty((n, t_len, centres.shape[2], digit_size, digit_size), np.float32)
    for i, j, d in np.ndindex(n, t_len, centres.shape[2]):
        r, c = corner[i, j, d]
        crops[i, j, d] = videos[i, j, r : r + digit_size, c : c + digit_size]
    x = torch.from_numpy(crops.reshape(-1, 1, digit_size, digit_size)) * 2.0 - 1.0
    if digit_size != out_size:
        x = F.interpolate(
            x, size=(out_size, out_size), mode="bilinear", align_corners=False, antialias=True
        )
    return x.clamp(-1.0, 1.0)


def _grey01(videos: torch.Tensor) -> np.ndarray:
    """(N, T, C, H, W) in [-1, 1] -> (N, T, H, W) in [0, 1]."""
    return ((videos.float().mean(2).clamp(-1, 1) + 1.0) / 2.0).cpu().numpy()


class _FrameStats:
    """Everything the metrics need from one set of clips (N, T, C, H, W) in [-1, 1]."""

    def __init__(
        self,
        videos: torch.Tensor,
        labels: list[int | None],
        info: dict[str, Any],
        image_classifier,
        video_classifier,
    ):
        self.moving = info.get("source") == "moving-digits"
        grey = _grey01(videos)
        self.physics: dict[str, float] = {}
        self.frame_correct = self.frame_feats = self.video_feats = self.video_correct = None
        centres = None
        if self.moving:
            centres = digit_centroids(grey, info["num_digits"])
            kw = dict(num_digits=info["num_digits"], digit_size=info["digit_size"])
            self.physics = motion_physics_error(
                grey,
                min_speed=info["min_speed"],
                max_speed=info["max_speed"],
                centres=centres,
                **kw,
            )
        names = info.get("class_names") or []
        labelled = [i for i, y in enumerate(labels) if y is not None and y < len(names)]
        if image_classifier is not None:
            size, channels = image_classifier.info["image_size"], image_classifier.info["channels"]
            device = next(image_classifier.parameters()).device
            if self.moving:
                crops = digit_crops(grey, centres, info["digit_size"], size)
            else:
                frames = torch.from_numpy(grey).reshape(-1, 1, *grey.shape[2:]) * 2 - 1
                crops = F.interpolate(frames, size=(size, size), mode="bilinear", antialias=True)
            crops = crops.repeat(1, channels, 1, 1).to(device)
            feats, logits = image_classifier.features_and_logits(crops)
            self.frame_feats = feats
            if self.moving and labelled:
                digits = (
                    logits.argmax(1).reshape(len(grey), grey.shape[1], -1).sort(-1).values.cpu()
                )
                digit_names = image_classifier.info.get("class_names") or [
                    str(i) for i in range(10)
                ]
                self.frame_correct = [
                    "".join(digit_names[int(d)] for d in digits[i, t]) == names[labels[i]]
                    for i in labelled
                    for t in range(grey.shape[1])
                ]
        if video_classifier is not None:
            device = next(video_classifier.parameters()).device
            feats, logits = video_classifier.features_and_logits(
                videos.transpose(1, 2).to(device).float()
            )
            self.video_feats = feats
            if labelled:
                pred = logits.argmax(1).cpu()
                self.video_correct = [int(pred[i]) == labels[i] for i in labelled]


def _stack(samples: list[VideoSample]) -> torch.Tensor:
    return torch.stack([s.frames for s in samples])


@torch.no_grad()
def video_metrics(
    samples: list[VideoSample],
    data: DataBundle | None,
    info: dict[str, Any],
    *,
    image_classifier=None,
    video_classifier=None,
    cache: dict | None = None,
    max_real: int = 0,
) -> dict[str, float]:
    """The metrics of ``samples`` (see the module docstring); real-data statistics are cached in
    ``cache`` per data digest."""
    videos = _stack(samples)
    stats = _FrameStats(
        videos, [s.label for s in samples], info, image_classifier, video_classifier
    )
    metrics: dict[str, float] = {"num_samples": float(len(samples)), **stats.physics}
    if stats.frame_correct:
        metrics["frame_accuracy"] = float(np.mean(stats.frame_correct))
    if stats.video_correct:
        metrics["video_accuracy"] = float(np.mean(stats.video_correct))
    if data is None or data.val is None or len(data.val) < 2:
        return metrics
    cache = {} if cache is None else cache
    key = (data.digest, max_real, image_classifier is not None, video_classifier is not None)
    if key not in cache:
        n_real = len(data.val) if max_real <= 0 else min(max_real, len(data.val))
        val = data.val.videos()[:n_real].transpose(1, 2)  # (N, T, C, H, W)
        train = data.train.videos()[:n_real].transpose(1, 2)
        cache.clear()
        cache[key] = (
            _FrameStats(
                val, data.val.labels[:n_real].tolist(), info, image_classifier, video_classifier
            ),
            _FrameStats(train, [None] * len(train), info, image_classifier, video_classifier),
        )
    real_val, real_train = cache[key]
    metrics.update({f"{k}_real": v for k, v in real_val.physics.items()})
    if real_val.frame_correct:
        metrics["frame_accuracy_real"] = float(np.mean(real_val.frame_correct))
    if real_val.video_correct:
        metrics["video_accuracy_real"] = float(np.mean(real_val.video_correct))
    if stats.frame_feats is not None and len(samples) >= 2:
        metrics["fid_frames"] = frechet_distance(stats.frame_feats, real_val.frame_feats)
        metrics["fid_frames_real"] = frechet_distance(real_train.frame_feats, real_val.frame_feats)
    if stats.video_feats is not None and len(samples) >= 2:
        metrics["fvd"] = frechet_distance(stats.video_feats, real_val.video_feats)
        metrics["fvd_real"] = frechet_distance(real_train.video_feats, real_val.video_feats)
    return metrics
