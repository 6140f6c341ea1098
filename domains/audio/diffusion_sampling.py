"""Sampling-path helpers of the audio latent diffusion task: vocoder choice, inpainting
from a kept time range of a reference clip, and the guidance interval in model time.

They live on a mixin so ``LatentDiffusionTask`` keeps its method names (and its state-dict,
since the mixin holds no parameters).
"""

from __future__ import annotations

import torch
from fick.domains.audio.audio_io import condition_clip, read_audio
from fick.domains.base import FickError

__all__ = ["DiffusionSamplingMixin", "parse_time_range"]


def parse_time_range(text: str, duration: float) -> tuple[float, float]:
    """``"0-0.5"`` / ``"0.5-"`` / ``"-0.25"`` (seconds) -> (start, end) clipped to the clip."""
    try:
        lo, hi = (text.split("-", 1) + [""])[:2] if isinstance(text, str) else text
        start = float(lo) if str(lo).strip() else 0.0
        end = float(hi) if str(hi).strip() else duration
    except ValueError:
        raise FickError(
            f"keep={text!r} is not a time range: use START-END in seconds, e.g. keep=0-0.5"
        ) from None
    start, end = max(0.0, start), min(duration, end)
    if end <= start:
        raise FickError(f"keep={text!r} is empty for a {duration:.2f} s clip: use START-END")
    return start, end


class DiffusionSamplingMixin:
    """Needs ``front``, ``vocoder``, ``info``, ``factor``, ``process`` and ``encode``."""

    def _check_vocoder(self, choice: str | None) -> str | None:
        """``choice``: "neural" (the embedded vocoder), "griffin-lim", or None (the neural
        vocoder when the model carries one); refused before any sampling work."""
        if choice not in (None, "neural", "griffin-lim"):
            raise FickError(f"unknown vocoder={choice!r}: use vocoder=griffin-lim or neural")
        if choice == "neural" and self.vocoder is None:
            raise FickError(
                "vocoder=neural but this model carries no neural vocoder: use "
                "vocoder=griffin-lim, or train one with model.vocoder set"
            )
        return choice

    def _vocode(self, log_mel: torch.Tensor, choice: str | None = None) -> torch.Tensor:
        if self.vocoder is not None and choice != "griffin-lim":
            return self.vocoder.vocode(log_mel)
        return self.front.griffin_lim(log_mel)

    def _inpaint_known(self, path: str, keep: str, n: int, device):
        s = self.front.settings
        audio, rate = read_audio(path)
        duration = audio.shape[-1] / rate
        frames = max(1, int(round(duration * s.sample_rate / s.hop_length)))
        clip = condition_clip(
            audio,
            rate,
            sample_rate=s.sample_rate,
            num_samples=frames * s.hop_length,
            target_dbfs=self.info.get("loudness_dbfs"),
        )
        z = self.encode(self.front.log_mel(clip[None].to(device)))
        start, end = parse_time_range(keep, frames * s.hop_length / s.sample_rate)
        seconds_per_latent = self.factor * s.hop_length / s.sample_rate
        j = torch.arange(z.shape[-1], device=device)
        # A latent frame is held only when the whole span it decodes to lies inside the range.
        held = (j * seconds_per_latent >= start - 1e-9) & (
            (j + 1) * seconds_per_latent <= end + 1e-9
        )
        if not bool(held.any()):
            raise FickError(
                f"keep={keep!r} is shorter than one latent frame "
                f"({seconds_per_latent:.3f} s): widen the range"
            )
        mask = held.reshape(1, 1, 1, -1).expand(n, *z.shape[1:])
        return frames, mask, z.expand(n, -1, -1, -1)

    def _model_interval(self, interval) -> tuple[float, float] | None:
        """A (low, high) fraction of the noise range -> the model's own t range."""
        if interval is None:
            return None
        if isinstance(interval, str):
            interval = interval.replace(",", "-").split("-")
        try:
            lo, hi = (float(v) for v in interval)
        except (TypeError, ValueError):
            raise FickError(
                f"guidance_interval={interval!r}: use LOW-HIGH fractions, e.g. 0.1-0.9"
            ) from None
        if not 0.0 <= lo < hi <= 1.0:
            raise FickError(f"guidance_interval {lo}-{hi}: need 0 <= low < high <= 1")
        if self.process.kind == "edm":
            raise FickError("guidance_interval is for VP and flow processes")
        top = (self.process.num_steps - 1) if getattr(self.process, "discrete", False) else 1.0
        return lo * top, hi * top
