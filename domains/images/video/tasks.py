"""The video tasks: ``video-diffusion`` (a Latte-style DiT on frames or per-frame VAE latents)
and ``video-classifier`` (the FVD feature network).

``VideoDiffusionTask`` is the image ``diffusion`` task (``..diffusion_task``) on clips: the same
process, loss, latent scale, companions (plus the video classifier), guidance and saved config,
with a video DiT, per-frame VAE encoding and its own conditions. Image-to-video is inpainting
along time: the given frames are held fixed by the core's ``mask``/``known`` and the rest is
generated; longer videos continue from the last frames of the previous clip the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from fick.domains.base import DataBundle, FickError
from fick.domains.diffusion import progress_counter
from torch import nn

from ..conditions import labels_for
from ..diffusion_task import ImageDiffusionTask
from .classifier_task import VideoClassifierTask
from .condition_frames import load_frames
from .config import VideoDiffusionConfig
from .export import VideoSample, write_video_samples
from .video_dit import VideoDiT

__all__ = ["VideoClassifierTask", "VideoDiffusionTask"]

CONDITIONS = ("label", "first_frame", "context", "context_frames", "length")


class VideoDiffusionTask(ImageDiffusionTask):
    config_type = VideoDiffusionConfig
    companion_types = {
        **ImageDiffusionTask.companion_types,
        "video_classifier": ("video_classifier", VideoClassifierTask),
    }
    sample_batch_size = 64

    def __init__(self, cfg: Any, info: dict[str, Any], resolve=None):
        super().__init__(cfg, info, resolve)
        self._real_cache: dict[str, Any] = {}

    def shape_of_state(self, size: int, channels: int) -> tuple[int, ...]:
        return (channels, self.info["frames"], size, size)

    def build_network(self, size: int, channels: int) -> nn.Module:
        return VideoDiT(frames=self.info["frames"], **self.dit_options(size, channels))

    @property
    def guided(self) -> bool:
        return bool(self.info["class_names"])

    # -- clips <-> diffusion state: the image VAE on every frame ----------------------------
    def encode_unscaled(self, videos: torch.Tensor) -> torch.Tensor:
        """Clips (B, C, T, H, W) in [-1, 1] -> pixels, or the VAE posterior means of every
        frame (encoded one by one, as images)."""
        if self.autoencoder is None:
            return videos
        b, c, t, h, w = videos.shape
        z = super().encode_unscaled(videos.transpose(1, 2).reshape(b * t, c, h, w))
        return z.reshape(b, t, *z.shape[1:]).transpose(1, 2)

    def decode_unscaled(self, state: torch.Tensor) -> torch.Tensor:
        if self.autoencoder is None:
            return state.clamp(-1, 1)
        b, c, t, h, w = state.shape
        frames = super().decode_unscaled(state.transpose(1, 2).reshape(b * t, c, h, w))
        return frames.reshape(b, t, *frames.shape[1:]).transpose(1, 2)

    # -- sampling ---------------------------------------------------------------------------
    @torch.no_grad()
    def sample_clips(
        self,
        labels: torch.Tensor,
        *,
        known_frames: torch.Tensor | None = None,
        steps: int | None = None,
        sampler: str | None = None,
        guidance: float | None = None,
        generator: torch.Generator | None = None,
        callback=None,
        **options: Any,
    ):
        """One clip per label: (frames (B, C, T, H, W) in [-1, 1], final diffusion state).

        ``known_frames`` (B, k, C, H, W): the first k frames are given. They are encoded and held
        fixed by the core's known-region mask (exact in the state), and pasted into the decoded
        frames, so the output's first k frames are the given pixels exactly."""
        device = self.latent_scale.device
        k = 0
        if known_frames is not None:
            k = known_frames.shape[1]
            if k >= self.state_shape[1]:
                raise FickError(
                    f"{k} given frames leave nothing to generate in a "
                    f"{self.state_shape[1]}-frame clip: give fewer frames"
                )
            known_frames = known_frames.to(device=device, dtype=torch.float32)
            known = torch.zeros((len(labels), *self.state_shape), device=device)
            known[:, :, :k] = self.encode(known_frames.transpose(1, 2))  # (B, C', k, h, w)
            mask = torch.zeros_like(known, dtype=torch.bool)
            mask[:, :, :k] = True
            options.update(mask=mask, known=known)
        state = self.sample_states(
            {"labels": labels},
            len(labels),
            steps=steps,
            sampler=sampler,
            guidance=guidance,
            generator=generator,
            callback=callback,
            **options,
        )
        frames = self.decode(state)
        if k:
            frames[:, :, :k] = known_frames.transpose(1, 2)
        return frames, state

    def _label_condition(self, raw: Any) -> dict[str, Any] | None:
        """``label=`` values as class names where they name one: ``label=37`` is the class "37"
        of two-digit clips (digits in any order), not index 37."""
        if raw is None:
            return None
        names = self.info["class_names"]
        values = list(raw) if isinstance(raw, list | tuple) else [raw]
        moving = self.info.get("source") == "moving-digits"
        out = []
        for v in values:
            text = "".join(sorted(str(v))) if moving and str(v).isdigit() else str(v)
            out.append(text if text in names else v)
        return {"label": out}

    @torch.no_grad()
    def sample(self, n: int, *, condition=None, progress=None, **options: Any) -> list:
        """``n`` clips (``Task.sample``; ``batch_size`` 64). Conditions: ``label`` (class index
        or name), ``first_frame`` (an image: image-to-video), ``context`` (a clip to continue
        from its last ``context_frames`` frames, default half a clip), ``length`` (total frames:
        longer videos are made clip by clip, each continuing from the last ``context_frames``
        frames of the previous one)."""
        batch_size = int(options.pop("batch_size", None) or self.sample_batch_size)
        steps = options.pop("steps", None) or self.cfg.steps
        condition = dict(condition or {})
        unknown = sorted(set(condition) - set(CONDITIONS))
        if unknown:
            raise FickError(
                f"unknown condition(s) {unknown} for video: use {', '.join(CONDITIONS)}"
            )
        device = self.latent_scale.device
        c, size, clip_len = self.info["channels"], self.info["image_size"], self.state_shape[1]
        names = self.info["class_names"] or ["unconditional"]
        labels = labels_for(n, self._label_condition(condition.get("label")), names, device)
        if not self.info["class_names"]:  # unconditional data: the null class (index 0)
            labels = torch.full_like(labels, self.net.null_label)
        overlap = int(condition.get("context_frames", clip_len // 2))
        if not 0 < overlap < clip_len:
            raise FickError(f"context_frames={overlap} must be between 1 and {clip_len - 1}")
        start = None
        if condition.get("first_frame") is not None:
            start = load_frames(condition["first_frame"], c, size)[:1]
        if condition.get("context") is not None:
            start = load_frames(condition["context"], c, size)[-overlap:]
        length = int(condition.get("length", clip_len))
        if length < clip_len:
            raise FickError(f"length={length} is shorter than the model's {clip_len}-frame clips")
        rounds = 1 + max(0, -(-(length - clip_len) // (clip_len - overlap)))
        callback = progress_counter(progress, steps * rounds * -(-n // batch_size))
        out: list[VideoSample] = []
        with self.sampling_mode():
            for chunk in labels.split(batch_size):
                out += self._sample_videos(
                    chunk, start, length, overlap, steps=steps, callback=callback, **options
                )
        return out

    def _sample_videos(self, chunk, start, length, overlap, **options) -> list[VideoSample]:
        """Clips of ``length`` frames for the labels ``chunk``, clip by clip, each continuing
        from the last ``overlap`` frames of the one before (the first from ``start``)."""
        known = None if start is None else start.unsqueeze(0).expand(len(chunk), *start.shape)
        video = None
        while video is None or video.shape[2] < length:
            frames, _ = self.sample_clips(chunk, known_frames=known, **options)
            video = frames if video is None else torch.cat([video, frames[:, :, overlap:]], dim=2)
            known = video[:, :, -overlap:].transpose(1, 2)
        video = video[:, :, :length].transpose(1, 2).cpu()  # (B, T, C, H, W)
        return [
            VideoSample(v, None if not self.info["class_names"] else int(y))
            for v, y in zip(video, chunk.tolist())
        ]

    # -- metrics and export -----------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, samples: list[VideoSample], data: DataBundle | None) -> dict[str, float]:
        """Motion physics (moving digits), per-frame accuracy and FID in the image classifier's
        space, FVD in the video classifier's; ``*_real`` keys: the same of real clips."""
        from .metrics import video_metrics

        if data is None and self.info.get("source") == "moving-digits" and "data" in self.info:
            from .data import build_video_data

            data = build_video_data("video-diffusion", self.info["data"])
        return video_metrics(
            samples,
            data,
            self.info,
            image_classifier=self.metrics_classifier,
            video_classifier=self.video_classifier,
            cache=self._real_cache,
            max_real=self.cfg.num_metric_samples,
        )

    def export(
        self, samples: list[VideoSample], out_dir: Path, prefix: str = "sample"
    ) -> list[Path]:
        return write_video_samples(samples, out_dir, prefix)
