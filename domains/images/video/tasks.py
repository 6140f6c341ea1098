"""The video tasks: ``video-diffusion`` (a Latte-style DiT on frames or per-frame VAE latents)
and ``video-classifier`` (the FVD feature network).

The loss and sampling loop are ``fick.core``'s (``training_loss``, ``sample`` with a known-region
mask, classifier-free guidance). Image-to-video is inpainting along time: the given frames are
held fixed by the core's ``mask``/``known`` and the rest is generated; longer videos continue
from the last frames of the previous clip the same way. Companion networks (image VAE, image
classifier, video classifier) are frozen submodules whose configs are embedded in
``saved_config()``, as in the image ``diffusion`` task.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import fick.core as core
import torch
from fick.domains.base import DataBundle, FickError, Progress, Resolver, Task

from ..companion_tasks import AutoencoderTask, ClassifierTask
from ..config import coerce_config
from ..diffusion_task import _companion, _labels_for, make_process, process_time_scale
from .classifier_task import VideoClassifierTask
from .condition_frames import _load_frames
from .config import VideoDiffusionConfig
from .export import VideoSample, write_video_samples
from .video_dit import VideoDiT

__all__ = ["VideoClassifierTask", "VideoDiffusionTask"]

CONDITIONS = ("label", "first_frame", "context", "context_frames", "length")


class VideoDiffusionTask(Task):
    kind = "diffusion"

    def __init__(
        self,
        cfg: VideoDiffusionConfig | dict,
        info: dict[str, Any],
        resolve: Resolver | None = None,
    ):
        super().__init__()
        self.cfg = coerce_config(VideoDiffusionConfig, cfg)
        self.info = dict(info)
        self.process = make_process(self.cfg)
        self.autoencoder = _companion(AutoencoderTask, self.cfg.vae, "vae", resolve)
        self.metrics_classifier = _companion(
            ClassifierTask, self.cfg.metrics_classifier, "metrics_classifier", resolve
        )
        self.video_classifier = _companion(
            VideoClassifierTask, self.cfg.video_classifier, "video_classifier", resolve
        )
        size, channels, frames = info["image_size"], info["channels"], info["frames"]
        if self.autoencoder is not None:
            vae = self.autoencoder.vae
            if vae.channels != channels:
                raise FickError(
                    f"model.vae has {vae.channels} image channels but the clips have {channels}"
                )
            size, channels = size // vae.downsample, vae.latent_channels
        self.state_shape = (channels, frames, size, size)
        self.register_buffer(
            "latent_scale", torch.zeros(())
        )  # 1 / latent std, set on the first batch
        self.net = VideoDiT(
            image_size=size,
            channels=channels,
            frames=frames,
            num_classes=info["num_classes"],
            patch_size=self.cfg.patch_size,
            width=self.cfg.width,
            depth=self.cfg.depth,
            heads=self.cfg.heads,
            mlp_ratio=self.cfg.mlp_ratio,
            time_scale=process_time_scale(self.process),
        )
        self._real_cache: dict[str, Any] = {}

    # -- clips <-> diffusion state ------------------------------------------------------------
    @torch.no_grad()
    def encode(self, videos: torch.Tensor) -> torch.Tensor:
        """Clips (B, C, T, H, W) in [-1, 1] -> the state: pixels, or scaled VAE posterior means of
        every frame (encoded one by one, as images)."""
        if self.autoencoder is None:
            return videos
        b, c, t, h, w = videos.shape
        mean, _ = self.autoencoder.vae.encode(videos.transpose(1, 2).reshape(b * t, c, h, w))
        if float(self.latent_scale) == 0.0:
            std = mean.float().std()
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                torch.distributed.all_reduce(std)
                std = std / torch.distributed.get_world_size()
            self.latent_scale.fill_(1.0 / float(std.clamp(min=1e-6)))
        z = mean * self.latent_scale
        return z.reshape(b, t, *z.shape[1:]).transpose(1, 2)

    @torch.no_grad()
    def decode(self, state: torch.Tensor) -> torch.Tensor:
        if self.autoencoder is None:
            return state.clamp(-1, 1)
        if float(self.latent_scale) == 0.0:
            raise FickError(
                "this latent model was never trained (its latent scale is unset): train it first"
            )
        b, c, t, h, w = state.shape
        frames = self.autoencoder.vae.decode(
            state.transpose(1, 2).reshape(b * t, c, h, w) / self.latent_scale
        )
        return frames.reshape(b, t, *frames.shape[1:]).transpose(1, 2).clamp(-1, 1)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        labels: torch.Tensor,
        cfg_null: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return self.net(x, t, labels, cfg_null)

    # -- training -------------------------------------------------------------------------------
    def loss(self, batch):
        videos, labels = batch
        x0 = self.encode(videos)
        # condition dropout: the same network learns the unconditional model (null class) for CFG
        cfg_null = core.guidance.drop_condition(
            len(labels), self.cfg.class_dropout, device=labels.device
        )
        out = core.training_loss(
            self,
            x0,
            self.process,
            prediction=self.cfg.prediction,
            weighting=self.cfg.weighting,
            model_kwargs={"labels": labels, "cfg_null": cfg_null},
        )
        return out.loss.mean(), {}

    # -- sampling -------------------------------------------------------------------------------
    def _guided_model(self, guidance: float, rescale: float = 0.0, interval=None):
        """Plain conditional at scale 1, otherwise classifier-free guidance (one batched call)."""
        if guidance == 1.0 or not self.info["class_names"]:
            return self
        return core.guidance.classifier_free(
            self, guidance, rescale=rescale, interval=tuple(interval) if interval else None
        )

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
        b = len(labels)
        noise = torch.randn(
            (b, *self.state_shape),
            generator=generator,
            device=generator.device if generator is not None else device,
        ).to(device)
        extra: dict[str, Any] = {}
        k = 0
        if known_frames is not None:
            k = known_frames.shape[1]
            if k >= self.state_shape[1]:
                raise FickError(
                    f"{k} given frames leave nothing to generate in a "
                    f"{self.state_shape[1]}-frame clip: give fewer frames"
                )
            known_frames = known_frames.to(device=device, dtype=noise.dtype)
            given = self.encode(known_frames.transpose(1, 2))  # (B, C', k, h, w)
            known = torch.zeros_like(noise)
            known[:, :, :k] = given
            mask = torch.zeros_like(noise, dtype=torch.bool)
            mask[:, :, :k] = True
            extra = {"mask": mask, "known": known}
        guidance = self.cfg.guidance if guidance is None else float(guidance)
        model = self._guided_model(
            guidance,
            float(options.pop("guidance_rescale", 0.0)),
            options.pop("guidance_interval", None),
        )
        state = core.sample(
            model,
            noise,
            schedule=self.process,
            sampler=sampler or self.cfg.sampler,
            steps=steps or self.cfg.steps,
            prediction=self.cfg.prediction,
            generator=generator,
            callback=callback,
            model_kwargs={"labels": labels},
            **extra,
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
    def sample(
        self,
        n: int,
        *,
        steps: int | None = None,
        sampler: str | None = None,
        guidance: float | None = None,
        condition: dict[str, Any] | None = None,
        generator: torch.Generator | None = None,
        progress: Progress | None = None,
        batch_size: int = 64,
        **options: Any,
    ) -> list[VideoSample]:
        """``n`` clips. Conditions: ``label`` (class index or name), ``first_frame`` (an image:
        image-to-video), ``context`` (a clip to continue from its last ``context_frames`` frames,
        default half a clip), ``length`` (total frames: longer videos are made clip by clip, each
        continuing from the last ``context_frames`` frames of the previous one)."""
        condition = dict(condition or {})
        unknown = sorted(set(condition) - set(CONDITIONS))
        if unknown:
            raise FickError(
                f"unknown condition(s) {unknown} for video: use {', '.join(CONDITIONS)}"
            )
        device = self.latent_scale.device
        c, size, clip_len = self.info["channels"], self.info["image_size"], self.state_shape[1]
        names = self.info["class_names"] or ["unconditional"]
        labels = _labels_for(n, self._label_condition(condition.get("label")), names, device)
        if not self.info["class_names"]:  # unconditional data: the null class (index 0)
            labels = torch.full_like(labels, self.net.null_label)
        overlap = int(condition.get("context_frames", clip_len // 2))
        if not 0 < overlap < clip_len:
            raise FickError(f"context_frames={overlap} must be between 1 and {clip_len - 1}")
        start = None
        if condition.get("first_frame") is not None:
            start = _load_frames(condition["first_frame"], c, size)[:1]
        if condition.get("context") is not None:
            start = _load_frames(condition["context"], c, size)[-overlap:]
        length = int(condition.get("length", clip_len))
        if length < clip_len:
            raise FickError(f"length={length} is shorter than the model's {clip_len}-frame clips")
        rounds = 1 + max(0, -(-(length - clip_len) // (clip_len - overlap)))
        steps = steps or self.cfg.steps
        done, total = 0, steps * rounds * ((n + batch_size - 1) // batch_size)

        def callback(*_args, **_kwargs):
            nonlocal done
            done += 1
            if progress is not None:
                progress(min(done, total), total)

        was_training = self.training
        self.eval()
        out: list[VideoSample] = []
        for chunk in labels.split(batch_size):
            known = None if start is None else start.unsqueeze(0).expand(len(chunk), *start.shape)
            video = None
            while video is None or video.shape[2] < length:
                frames, _ = self.sample_clips(
                    chunk,
                    known_frames=known,
                    steps=steps,
                    sampler=sampler,
                    guidance=guidance,
                    generator=generator,
                    callback=callback,
                    **options,
                )
                video = (
                    frames if video is None else torch.cat([video, frames[:, :, overlap:]], dim=2)
                )
                known = video[:, :, -overlap:].transpose(1, 2)
            video = video[:, :, :length].transpose(1, 2).cpu()  # (B, T, C, H, W)
            out += [
                VideoSample(v, None if not self.info["class_names"] else int(y))
                for v, y in zip(video, chunk.tolist())
            ]
        self.train(was_training)
        return out

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

    def saved_config(self) -> dict[str, Any]:
        cfg = asdict(self.cfg)
        for key, task in (
            ("vae", self.autoencoder),
            ("metrics_classifier", self.metrics_classifier),
            ("video_classifier", self.video_classifier),
        ):
            if task is not None:
                cfg[key] = {"config": task.saved_config(), "info": task.info}
        return cfg

    def train(self, mode: bool = True):
        super().train(mode)
        for task in (self.autoencoder, self.metrics_classifier, self.video_classifier):
            if task is not None:
                task.eval()
        return self
