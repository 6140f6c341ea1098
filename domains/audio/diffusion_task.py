"""Label- or prompt-conditional latent diffusion over spectrogram-VAE latents (AudioLDM-style).

The process, time scaling, latent scale (measured on the first training batch, as Stable
Diffusion's scale factor), companions (VAE, neural vocoder, metric classifier: resolved by
reference at train time, embedded in ``saved_config()``), condition dropout, loss and the
per-batch sampler call are the shared :class:`fick.domains.diffusion.DiffusionTask`'s. This
module supplies the log-mel <-> latent encode / decode (``autoencoder: null`` diffuses the
standardised mel itself, one channel), the U-Net / DiT with audio's conditions (a null label
token, the text context of prompts), label and prompt parsing, clips of any duration, and
vocoding (Griffin-Lim or the neural vocoder). Inpainting, the vocoder choice and the guidance
interval live in ``diffusion_sampling``, evaluation in ``diffusion_evaluation``.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import torch
from fick.domains.audio.config import (
    AutoencoderConfig,
    ClassifierConfig,
    DiffusionConfig,
    VocoderConfig,
    config_from,
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
from fick.domains.diffusion import DiffusionTask, progress_counter, resolve_companion

__all__ = ["LatentDiffusionTask", "parse_time_range"]

_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_COMPANION_CONFIGS = {
    "autoencoder": AutoencoderConfig,
    "vocoder": VocoderConfig,
    "classifier": ClassifierConfig,
}
# the weights of the U-Net / DiT were saved under "denoiser." before the shared task
_OLD_BACKBONE_PREFIX, _BACKBONE_PREFIX = "denoiser.", "backbone."


def _rename_old_backbone_keys(module, state_dict, prefix, *_args) -> None:
    old = prefix + _OLD_BACKBONE_PREFIX
    for key in [k for k in state_dict if k.startswith(old)]:
        state_dict[prefix + _BACKBONE_PREFIX + key[len(old) :]] = state_dict.pop(key)


class LatentDiffusionTask(DiffusionSamplingMixin, DiffusionEvaluationMixin, DiffusionTask):
    companion_types = {
        "autoencoder": ("autoencoder", AutoencoderTask),
        "vocoder": ("vocoder", VocoderTask),
        "classifier": ("classifier", ClassifierTask),
    }
    dropout_key = "cond_dropout"
    sample_batch_size = 64
    metric_notes = {
        "accuracy": "the metric classifier hears the asked-for class",
        "fid": "Frechet distance in the metric classifier's features (lower is better; biased "
               "upward for few samples)",
        "mel_fd": "Frechet distance of mean log-mel frames (lower is better)",
        "is": "Inception score in the metric classifier (higher: confident and varied)",
        "mis": "modified Inception score (Gurumurthy et al. 2017): varied within each class",
        "am": "AM score (Zhou et al. 2018): class balance as the real clips have it (lower)",
    }

    def __init__(self, cfg: DiffusionConfig, info: dict[str, Any], resolve: Resolver | None):
        super().__init__(cfg, info, resolve)
        self.class_names = list(info.get("class_names") or [""])
        self.num_classes = len(self.class_names)
        for name in self.companions:
            companion = getattr(self, name)
            if companion is not None and "mel" in info and companion.info.get("mel") != info["mel"]:
                raise FickError(
                    f"the {name} was trained on mels {companion.info.get('mel')} but "
                    f"the data gives {info['mel']}: use the same data.* mel settings"
                )
        # The VAE's front end carries the normalisation its latents were trained with.
        self.front = (
            self.autoencoder.front if self.autoencoder is not None else front_end_from_info(info)
        )
        self.factor = self.autoencoder.factor if self.autoencoder is not None else 1
        self.latent_channels = (
            self.autoencoder.latent_channels if self.autoencoder is not None else 1
        )
        self.latent_height = self.front.settings.n_mels // self.factor
        if cfg.conditioning not in ("label", "prompt"):
            raise FickError(f"unknown model.conditioning {cfg.conditioning!r}: use label or prompt")
        self.prompts = PromptConditioner(cfg, info) if cfg.conditioning == "prompt" else None
        self.backbone = build_denoiser(
            cfg.denoiser,
            self.latent_channels,
            self.num_classes,
            cfg,
            self.prompts.width if self.prompts is not None else 0,
        )
        self.register_load_state_dict_pre_hook(_rename_old_backbone_keys)
        self._reference_cache: dict[str, Any] = {}

    def load_companion(self, attr: str, resolve: Resolver | None) -> Task | None:
        """As the shared task, with the embedded config as the companion's dataclass; a vocoder
        "griffin-lim" is none, and a neural one only vocodes (its GAN discriminators stay
        behind)."""
        key, kind = self.companion_types[attr]
        ref = getattr(self.cfg, key)
        if attr == "vocoder" and ref == "griffin-lim":
            return None
        if isinstance(ref, dict):  # embedded
            ref = {**ref, "config": config_from(_COMPANION_CONFIGS[attr], ref["config"])}
        options = {"discriminators": False} if attr == "vocoder" else {}
        task = resolve_companion(kind, ref, key, resolve, **options)
        if attr == "vocoder" and task is not None:
            task.drop_discriminators()
        return task

    # -- the network as fick.core sees it ------------------------------------------------
    def net(self, x, t, label=None, text_ids=None, uncaptioned=None, cfg_null=None):
        """The U-Net / DiT at network time ``t``: rows where ``cfg_null`` (classifier-free
        guidance, condition dropout) or ``uncaptioned`` (a training clip without a caption) is
        True get the null label and the null text context."""
        if uncaptioned is not None:
            cfg_null = uncaptioned if cfg_null is None else cfg_null | uncaptioned
        context = None
        if self.prompts is not None and text_ids is not None:
            context = self.prompts.context(text_ids, cfg_null)
        if label is None:
            label = torch.full((x.shape[0],), self.num_classes, dtype=torch.long, device=x.device)
        if cfg_null is not None:
            label = torch.where(
                cfg_null.to(label.device), torch.full_like(label, self.num_classes), label
            )
        if context is None:
            return self.backbone(x, t, label)
        return self.backbone(x, t, label, context)

    # -- log-mel <-> latent ----------------------------------------------------------------
    @property
    def scales_latents(self) -> bool:
        # VAE and mel latents alike are scaled once the first training batch measured their
        # std; until then (an untrained model, as the speed benchmarks time) they are not.
        return self.training or float(self.latent_scale) != 0.0

    def encode_unscaled(self, log_mel: torch.Tensor) -> torch.Tensor:
        if self.autoencoder is None:
            return self.front.normalize(log_mel).unsqueeze(1)
        return self.autoencoder.encode(log_mel)

    def decode_unscaled(self, z: torch.Tensor) -> torch.Tensor:
        """Latents -> unnormalised log-mels (B, M, T) covering every latent frame."""
        if self.autoencoder is None:
            return self.front.denormalize(z.squeeze(1))
        return self.autoencoder.decode(z, z.shape[-1] * self.factor)

    # -- conditions ------------------------------------------------------------------------
    def training_inputs(self, batch):
        if self.prompts is None:
            return batch["log_mel"], {"label": batch["label"]}
        captions = list(batch["caption"])
        device = batch["log_mel"].device
        # a clip without a caption trains the unconditional model (the null context)
        return batch["log_mel"], {
            "text_ids": self.prompts.ids(captions, device),
            "uncaptioned": torch.tensor([not c for c in captions], device=device),
        }

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

    def _prompt_list(self, n: int, condition: dict | None) -> list[str]:
        given = (condition or {}).get("prompt")
        # without a prompt: the class names as prompts ("seven"), as validation does
        cycle = split_prompts(given) if given is not None else self.class_names
        return [cycle[i % len(cycle)] for i in range(n)]

    # -- sampling ------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, condition=None, progress=None, **options) -> list[Clip]:
        """``n`` clips; options: ``duration`` (seconds, any length), ``inpaint`` (an audio file)
        with ``keep`` ("START-END" seconds of it held fixed, the rest generated),
        ``batch_size`` (default 64), ``vocoder`` (griffin-lim | neural), ``steps``,
        ``sampler``, ``guidance``, ``guidance_interval``, ``guidance_rescale``, ``generator``
        and sampler options (eta, karras ...)."""
        batch_size = int(options.pop("batch_size", None) or self.sample_batch_size)
        vocoder = self._check_vocoder(options.pop("vocoder", None))
        steps = int(options.pop("steps", None) or self.cfg.steps)
        device = self.latent_scale.device
        prompts = self._prompt_list(n, condition) if self.prompts is not None else None
        labels = self._labels(n, condition) if prompts is None else None
        starts = range(0, n, batch_size)
        callback = progress_counter(progress, steps * len(starts))
        rate = self.front.settings.sample_rate
        clips: list[Clip] = []
        with self.sampling_mode():
            for lo in starts:
                hi = min(n, lo + batch_size)
                t0 = time.perf_counter()
                conditions = (
                    {"label": labels[lo:hi].to(device)}
                    if prompts is None
                    else {"text_ids": self.prompts.ids(prompts[lo:hi], device)}
                )
                log_mel, meta = self.sample_log_mels(
                    conditions, hi - lo, steps=steps, callback=callback, **dict(options)
                )
                audio = self._vocode(log_mel, vocoder).float().cpu()
                per_clip = (time.perf_counter() - t0) / (hi - lo)
                for k in range(lo, hi):
                    if prompts is not None:
                        label = PromptConditioner.word_label(prompts[k], self.class_names)
                        clip_meta = {**meta, "prompt": prompts[k]}
                    else:
                        label = self.class_names[int(labels[k])] if self.num_classes > 1 else None
                        clip_meta = dict(meta)
                    clips.append(Clip(audio[k - lo], rate, label, per_clip, clip_meta))
        return clips

    @torch.no_grad()
    def sample_log_mels(
        self, conditions: dict[str, torch.Tensor], num: int, **options
    ) -> tuple[torch.Tensor, dict]:
        """``num`` unnormalised log-mels (B, M, T) for per-sample ``conditions`` (``label`` or
        ``text_ids``), and the steps / sampler / guidance used; options as ``sample``'s."""
        s = self.front.settings
        duration = float(options.pop("duration", self.info.get("duration", 1.0)))
        inpaint, keep = options.pop("inpaint", None), options.pop("keep", None)
        interval = options.pop("guidance_interval", self.cfg.guidance_interval)
        guidance = options.pop("guidance", None)
        meta = {
            "steps": int(options.pop("steps", None) or self.cfg.steps),
            "sampler": options.pop("sampler", None) or self.cfg.sampler,
            "guidance": self.cfg.guidance if guidance is None else float(guidance),
        }
        if inpaint is not None:
            device = self.latent_scale.device
            frames, options["mask"], options["known"] = self._inpaint_known(
                str(inpaint), keep or "0-0.5", num, device
            )
        else:
            frames = max(self.factor, int(round(duration * s.sample_rate / s.hop_length)))
        shape = (self.latent_channels, self.latent_height, math.ceil(frames / self.factor))
        # the text context does not change between steps: encode it once per batch
        with (
            self.prompts.cached_context() if self.prompts is not None else contextlib.nullcontext()
        ):
            z = self.sample_states(
                conditions,
                num,
                shape=shape,
                guidance_interval=self._model_interval(interval),
                **meta,
                **options,
            )
        return self.decode(z)[..., :frames], meta

    def export(self, samples: list[Clip], out_dir: Path, prefix: str = "sample") -> list[Path]:
        return export_clips(samples, out_dir, prefix, front_end=self.front)
