"""Label-conditional latent diffusion over spectrogram-VAE latents (AudioLDM-style).

Training: log-mel -> frozen VAE encoder (posterior mean) -> latents scaled to unit variance
(the scale is measured on the first training batch and stored as a buffer, as Stable
Diffusion's scale factor) -> ``fick.core.training_loss`` with the label dropped at rate
``cond_dropout`` for classifier-free guidance. Sampling: ``fick.core.sample`` with
``fick.core.guidance.classifier_free``, VAE decoder, then Griffin-Lim or a neural vocoder.
``autoencoder: null`` diffuses the standardised mel itself (one channel, no VAE).

Companion networks (VAE, neural vocoder, metric classifier) are resolved by reference at train
time and their configs embedded in ``saved_config()``, so a saved model is self-contained.
Sampling-path helpers live in ``diffusion_sampling``, evaluation in ``diffusion_evaluation``.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import torch
from fick.core import guidance as core_guidance
from fick.core import sample as core_sample
from fick.core import schedules, training_loss
from fick.domains.audio.config import (
    AutoencoderConfig,
    ClassifierConfig,
    DiffusionConfig,
    VocoderConfig,
    coerce_config,
)
from fick.domains.audio.denoisers import build_denoiser
from fick.domains.audio.diffusion_evaluation import DiffusionEvaluationMixin
from fick.domains.audio.diffusion_sampling import DiffusionSamplingMixin, parse_time_range
from fick.domains.audio.export import Clip, export_clips
from fick.domains.audio.prompting import PromptConditioner, split_prompts
from fick.domains.audio.tasks import (
    AutoencoderTask,
    ClassifierTask,
    VocoderTask,
    front_end_from_info,
)
from fick.domains.base import FickError, Resolver, Task
from fick.domains.diffusion_config import config_dict

__all__ = ["LatentDiffusionTask", "parse_time_range"]

_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_COMPANIONS = {
    "autoencoder": (AutoencoderTask, AutoencoderConfig),
    "vocoder": (VocoderTask, VocoderConfig),
    "classifier": (ClassifierTask, ClassifierConfig),
}


def _companion(kind: str, ref: str | None, embedded: dict | None, resolve: Resolver | None):
    """(task, embedded dict) for a companion network, or (None, None) when there is none."""
    cls, cfg_cls = _COMPANIONS[kind]
    # a vocoder inside a diffusion model only vocodes: its GAN discriminators stay behind
    extra = {"discriminators": False} if kind == "vocoder" else {}
    if embedded:
        return cls(coerce_config(cfg_cls, embedded["config"]), embedded["info"], **extra), embedded
    if ref is None or (kind == "vocoder" and ref == "griffin-lim"):
        return None, None
    if resolve is None:
        raise FickError(
            f"model.{kind} is {ref!r} but no model resolver was given: load it "
            "through fick (fick train / fick sample)"
        )
    loaded = resolve(ref)
    if getattr(loaded, "kind", None) != kind:
        raise FickError(
            f"model.{kind} {ref!r} is a {getattr(loaded, 'kind', '?')} model: "
            f"point it at an audio {kind}"
        )
    if kind == "vocoder":
        loaded.drop_discriminators()
    return loaded, {"config": loaded.saved_config(), "info": loaded.info}


class LatentDiffusionTask(DiffusionSamplingMixin, DiffusionEvaluationMixin, Task):
    kind = "diffusion"

    def __init__(self, cfg: DiffusionConfig, info: dict[str, Any], resolve: Resolver | None):
        super().__init__()
        self.info = dict(info)
        self.class_names = list(info.get("class_names") or [""])
        self.num_classes = len(self.class_names)
        self.autoencoder, cfg.autoencoder_config = _companion(
            "autoencoder", cfg.autoencoder, cfg.autoencoder_config, resolve
        )
        self.vocoder, cfg.vocoder_config = _companion(
            "vocoder", cfg.vocoder, cfg.vocoder_config, resolve
        )
        self.classifier, cfg.classifier_config = _companion(
            "classifier", cfg.classifier, cfg.classifier_config, resolve
        )
        self.cfg = cfg
        for name, companion in (
            ("autoencoder", self.autoencoder),
            ("vocoder", self.vocoder),
            ("classifier", self.classifier),
        ):
            if companion is not None and "mel" in info and companion.info.get("mel") != info["mel"]:
                raise FickError(
                    f"the {name} was trained on mels {companion.info.get('mel')} but "
                    f"the data gives {info['mel']}: use the same data.* mel settings"
                )
        # The VAE's front end carries the normalisation its latents were trained with.
        self.front = (
            self.autoencoder.front if self.autoencoder is not None else front_end_from_info(info)
        )
        for companion in (self.autoencoder, self.vocoder, self.classifier):
            if companion is not None:
                companion.requires_grad_(False).eval()
        self.factor = self.autoencoder.factor if self.autoencoder is not None else 1
        self.latent_channels = (
            self.autoencoder.latent_channels if self.autoencoder is not None else 1
        )
        self.latent_height = self.front.settings.n_mels // self.factor
        self.process = schedules.by_name(cfg.process, **dict(cfg.process_options or {}))
        self.time_scale = 1.0 if getattr(self.process, "discrete", False) else 1000.0
        if cfg.conditioning not in ("label", "prompt"):
            raise FickError(f"unknown model.conditioning {cfg.conditioning!r}: use label or prompt")
        self.prompts = PromptConditioner(cfg, info) if cfg.conditioning == "prompt" else None
        self.denoiser = build_denoiser(
            cfg.denoiser,
            self.latent_channels,
            self.num_classes,
            cfg,
            self.prompts.width if self.prompts is not None else 0,
        )
        # 0 until the first training batch measures it (see the module docstring).
        self.register_buffer("latent_scale", torch.zeros(()))
        self._reference_cache: dict[str, Any] = {}

    def train(self, mode: bool = True):
        super().train(mode)
        for companion in (self.autoencoder, self.vocoder, self.classifier):
            if companion is not None:
                companion.eval()  # frozen: BatchNorm / dropout stay in inference mode
        return self

    def saved_config(self) -> dict[str, Any]:
        return config_dict(self.cfg)

    # -- the network as fick.core sees it ------------------------------------------------
    def network(self, x, t, label=None, cfg_null=None, text_ids=None):
        """``model(x_t, t, label=..., cfg_null=..., text_ids=...)``: cfg_null swaps in the null
        label and the null text context."""
        b = x.shape[0]
        context = None
        if self.prompts is not None and text_ids is not None:
            context = self.prompts.context(text_ids, cfg_null)
        if label is None:
            label = torch.full((b,), self.num_classes, dtype=torch.long, device=x.device)
        if cfg_null is not None:
            label = torch.where(
                cfg_null.to(label.device), torch.full_like(label, self.num_classes), label
            )
        if context is None:
            return self.denoiser(x, t.to(x.dtype) * self.time_scale, label)
        return self.denoiser(x, t.to(x.dtype) * self.time_scale, label, context)

    @torch.no_grad()
    def to_latent(self, log_mel: torch.Tensor) -> torch.Tensor:
        if self.autoencoder is None:
            z = self.front.normalize(log_mel).unsqueeze(1)
        else:
            z = self.autoencoder.encode(log_mel)
        return z * self.latent_scale if float(self.latent_scale) > 0 else z

    @torch.no_grad()
    def from_latent(self, z: torch.Tensor, frames: int) -> torch.Tensor:
        z = z / self.latent_scale if float(self.latent_scale) > 0 else z
        if self.autoencoder is None:
            return self.front.denormalize(z.squeeze(1)[..., :frames])
        return self.autoencoder.decode(z, frames)

    def loss(self, batch):
        log_mel, labels = batch["log_mel"], batch["label"]
        if float(self.latent_scale) == 0 and self.training:
            with torch.no_grad():
                self.latent_scale.fill_(1.0)
                raw = self.to_latent(log_mel)
                self.latent_scale.fill_(1.0 / float(raw.std().clamp(min=1e-3)))
        z0 = self.to_latent(log_mel)
        null = core_guidance.drop_condition(
            z0.shape[0], self.cfg.cond_dropout if self.training else 0.0, device=z0.device
        )
        kwargs = {"label": labels, "cfg_null": null}
        if self.prompts is not None:
            captions = list(batch["caption"])
            # a clip without a caption trains the unconditional model (the null context)
            empty = torch.tensor([not c for c in captions], device=z0.device)
            kwargs = {
                "cfg_null": null | empty,
                "text_ids": self.prompts.ids(captions, z0.device),
            }
        out = training_loss(
            self.network, z0, self.process, prediction=self.cfg.prediction, model_kwargs=kwargs
        )
        return out.loss.float().mean(), {}

    # -- sampling ------------------------------------------------------------------------
    def _label_index(self, value) -> int:
        text = str(value).strip()
        if text in self.class_names:
            return self.class_names.index(text)
        if text.lstrip("-").isdigit():
            k = int(text)
            if 0 <= k < 10 and _DIGIT_WORDS[k] in self.class_names:
                return self.class_names.index(_DIGIT_WORDS[k])
            if 0 <= k < self.num_classes:
                return k
        raise FickError(f"unknown label {value!r}: use one of {self.class_names}")

    def _labels(self, n: int, condition: dict | None) -> torch.Tensor:
        value = (condition or {}).get("label")
        if value is None:  # balanced: cycle through the classes
            return torch.arange(n) % self.num_classes
        values = value if isinstance(value, list | tuple) else str(value).split(",")
        idx = [self._label_index(v) for v in values]
        return torch.tensor([idx[i % len(idx)] for i in range(n)], dtype=torch.long)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        steps=None,
        sampler=None,
        guidance=None,
        condition=None,
        generator=None,
        progress=None,
        **options,
    ) -> list[Clip]:
        """``n`` clips; options: ``duration`` (seconds, any length), ``inpaint`` (an audio file)
        with ``keep`` ("START-END" seconds of it held fixed, the rest generated),
        ``batch_size`` (default 64), ``vocoder`` (griffin-lim | neural), and sampler options (eta,
        karras ...)."""
        batch_size = int(options.pop("batch_size", 64))
        vocoder = self._check_vocoder(options.pop("vocoder", None))
        prompts = None
        if self.prompts is not None:
            given = (condition or {}).get("prompt")
            # without a prompt: the class names as prompts ("seven"), as validation does
            cycle = split_prompts(given) if given is not None else self.class_names
            prompts = [cycle[i % len(cycle)] for i in range(n)]
            labels = torch.full((n,), self.num_classes, dtype=torch.long)
        else:
            labels = self._labels(n, condition)
        rate = self.front.settings.sample_rate
        clips: list[Clip] = []
        for lo in range(0, n, batch_size):
            hi = min(n, lo + batch_size)
            t0 = time.perf_counter()

            def step(i, total, base=lo // batch_size):
                if progress is not None:
                    progress(base * total + i, math.ceil(n / batch_size) * total)

            if prompts is not None:
                options["text_ids"] = self.prompts.ids(prompts[lo:hi])
            log_mel, meta = self.sample_log_mels(
                labels[lo:hi],
                steps=steps,
                sampler=sampler,
                guidance=guidance,
                generator=generator,
                progress=step,
                **dict(options),
            )
            audio = self._vocode(log_mel, vocoder).float().cpu()
            per_clip = (time.perf_counter() - t0) / (hi - lo)
            for k in range(hi - lo):
                if prompts is not None:
                    prompt = prompts[lo + k]
                    label = PromptConditioner.word_label(prompt, self.class_names)
                    clip_meta = {**meta, "prompt": prompt}
                else:
                    label = self.class_names[int(labels[lo + k])] if self.num_classes > 1 else None
                    clip_meta = dict(meta)
                clips.append(Clip(audio[k], rate, label, per_clip, clip_meta))
        return clips

    @torch.no_grad()
    def sample_log_mels(
        self,
        labels: torch.Tensor,
        *,
        steps=None,
        sampler=None,
        guidance=None,
        generator=None,
        progress=None,
        **options,
    ) -> tuple[torch.Tensor, dict]:
        """Sample latents for ``labels`` (B,) and decode them: unnormalised log-mels (B, M, T)."""
        device = self.latent_scale.device
        s = self.front.settings
        n = labels.shape[0]
        labels = labels.to(device)
        duration = float(options.pop("duration", self.info.get("duration", 1.0)))
        inpaint, keep = options.pop("inpaint", None), options.pop("keep", None)
        text_ids = options.pop("text_ids", None)
        interval = options.pop("guidance_interval", self.cfg.guidance_interval)
        steps = int(steps or self.cfg.steps)
        sampler = sampler or self.cfg.sampler
        scale = self.cfg.guidance if guidance is None else float(guidance)
        mask = known = None
        if inpaint is not None:
            frames, mask, known = self._inpaint_known(str(inpaint), keep or "0-0.5", n, device)
        else:
            frames = max(self.factor, int(round(duration * s.sample_rate / s.hop_length)))
        model = (
            self.network
            if scale == 1.0
            else core_guidance.classifier_free(
                self.network, scale, interval=self._model_interval(interval)
            )
        )
        noise = torch.randn(
            (n, self.latent_channels, self.latent_height, math.ceil(frames / self.factor)),
            generator=generator,
            device=generator.device if generator else device,
        )
        # the text context does not change between steps: encode it once per batch
        with (
            self.prompts.cached_context() if self.prompts is not None else contextlib.nullcontext()
        ):
            z = core_sample(
                model,
                noise.to(device),
                self.process,
                sampler=sampler,
                steps=steps,
                prediction=self.cfg.prediction,
                generator=generator,
                mask=mask,
                known=known,
                callback=progress,
                model_kwargs={"label": labels}
                if text_ids is None
                else {"label": labels, "text_ids": text_ids.to(device)},
                **options,
            )
        return self.from_latent(z, frames), {"steps": steps, "sampler": sampler, "guidance": scale}

    def export(self, samples: list[Clip], out_dir: Path, prefix: str = "sample") -> list[Path]:
        return export_clips(samples, out_dir, prefix, front_end=self.front)
