"""The neural vocoder task: a Vocos-style generator trained as a GAN on random crops.

Generator loss: ``mel_weight`` x L1 of log-mels (the diffusion model's own front end, so the
vocoder is trained on exactly the mels it will be given) + ``stft_weight`` x auraloss'
multi-resolution STFT loss, and, after ``adversarial_start`` warm-up steps, adversarial (hinge or
least squares) + feature-matching losses against a multi-period and a multi-resolution
discriminator.

Two optimisers under fick's one-optimiser LightningModule: the discriminators' parameters keep
``requires_grad=False``, so the module's AdamW (built over the parameters that require grad)
steps only the generator, and the generator's backward pass leaves no gradient on them. The task
owns a second Adam for the discriminators and steps it inside ``loss`` (one discriminator step
per generator step, on the same crop, before the generator's losses are computed). Its moments
are not in Lightning's checkpoint: a resumed run restarts them (a few hundred steps of slightly
weaker discriminators); the discriminators' weights and the step count are saved.
"""

from __future__ import annotations

from typing import Any

import auraloss
import torch
from fick.domains.audio.config import VocoderConfig
from fick.domains.audio.discriminators import (
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from fick.domains.audio.metrics import log_mel_l1, spectral_convergence
from fick.domains.audio.task_base import AudioTask
from fick.domains.audio.vocoder import VocosVocoder
from fick.domains.base import FickError

__all__ = ["VocoderTask"]


def _mr_stft(resolutions) -> auraloss.freq.MultiResolutionSTFTLoss:
    ffts = [int(n) for n, _ in resolutions]
    return auraloss.freq.MultiResolutionSTFTLoss(
        fft_sizes=ffts, hop_sizes=[int(h) for _, h in resolutions], win_lengths=ffts
    )


class VocoderTask(AudioTask):
    """Vocos-style vocoder (ConvNeXt over mel frames, iSTFT head); GAN-trained when
    ``model.adversarial`` is true (see the module docstring)."""

    kind = "vocoder"

    def __init__(self, cfg: VocoderConfig, info: dict[str, Any], discriminators: bool = True):
        super().__init__(cfg, info)
        mel = info["mel"]
        if cfg.gan_loss not in ("hinge", "lsgan"):
            raise FickError(f"unknown model.gan_loss {cfg.gan_loss!r}: use hinge or lsgan")
        self.net = VocosVocoder(mel["n_mels"], mel["hop_length"], cfg.n_fft, cfg.dim, cfg.layers)
        self.mr_stft = _mr_stft(cfg.resolutions)
        self.mpd = self.mrd = None
        self._d_opt = None
        if cfg.adversarial and discriminators:
            self.mpd = MultiPeriodDiscriminator(tuple(cfg.periods), cfg.discriminator_width)
            self.mrd = MultiResolutionDiscriminator(
                tuple(tuple(r) for r in cfg.resolutions), cfg.discriminator_width
            )
            self.mpd.requires_grad_(False)
            self.mrd.requires_grad_(False)
            self.register_buffer("gan_steps", torch.zeros((), dtype=torch.long))

    def __getstate__(self):
        state = super().__getstate__()
        state["_d_opt"] = None  # EMA deep-copies the task: the copy needs no optimiser
        return state

    def drop_discriminators(self) -> None:
        """Inference only (a companion inside a diffusion model): free the training parts."""
        self.mpd = self.mrd = None
        self._d_opt = None
        if "gan_steps" in self._buffers:
            del self._buffers["gan_steps"]

    def vocode(self, log_mel: torch.Tensor) -> torch.Tensor:
        """Unnormalised log-mel (B, M, T) -> audio (B, T * hop)."""
        return self.net(log_mel)

    def _discriminate(self, audio):
        return self.mpd(audio) + self.mrd(audio)

    def _discriminator_step(self, real, fake) -> float:
        params = [p for m in (self.mpd, self.mrd) for p in m.parameters()]
        if self._d_opt is None:
            self._d_opt = torch.optim.Adam(params, lr=self.cfg.discriminator_lr, betas=(0.8, 0.99))
        for p in params:
            p.requires_grad_(True)
        try:
            with torch.enable_grad():
                out_real = self._discriminate(real)
                out_fake = self._discriminate(fake.detach())
                loss = discriminator_loss(
                    [o[0] for o in out_real], [o[0] for o in out_fake], self.cfg.gan_loss
                )
                grads = torch.autograd.grad(loss, params)
        finally:
            for p in params:
                p.requires_grad_(False)
        for p, g in zip(params, grads):
            p.grad = g
        self._d_opt.step()
        for p in params:
            p.grad = None
        return float(loss.detach())

    def loss(self, batch):
        audio, log_mel = batch["audio"], batch["log_mel"]
        hop, frames = self.front.settings.hop_length, log_mel.shape[-1]
        seg = min(self.cfg.segment_frames, frames)
        # One random crop offset per batch (from torch's global RNG, which Lightning seeds).
        start = int(torch.randint(0, frames - seg + 1, ()))
        mel_crop = log_mel[..., start : start + seg]
        real = audio[..., start * hop : (start + seg) * hop]
        pred = self.net(mel_crop)
        mel_loss = (self.front.log_mel(pred) - mel_crop).abs().mean()
        stft_loss = self.mr_stft(pred.unsqueeze(1), real.unsqueeze(1))
        loss = self.cfg.mel_weight * mel_loss + self.cfg.stft_weight * stft_loss
        logs = {"mel_l1": float(mel_loss.detach()), "mrstft": float(stft_loss.detach())}
        if self.mpd is None:
            return loss, logs
        stepping = self.training and torch.is_grad_enabled()
        if int(self.gan_steps) >= self.cfg.adversarial_start:
            if stepping:
                logs["discriminator"] = self._discriminator_step(real, pred)
            out_real = self._discriminate(real)
            out_fake = self._discriminate(pred)
            adv = generator_adversarial_loss([o[0] for o in out_fake], self.cfg.gan_loss)
            fm = feature_matching_loss([o[1] for o in out_real], [o[1] for o in out_fake])
            loss = loss + self.cfg.adversarial_weight * adv + self.cfg.feature_matching_weight * fm
            logs.update(adversarial=float(adv.detach()), feature_matching=float(fm.detach()))
        if stepping:
            self.gan_steps += 1
        return loss, logs

    @torch.no_grad()
    def validation_metrics(self, batch) -> dict[str, float]:
        audio, log_mel = batch["audio"], batch["log_mel"]
        loss, logs = self.loss(batch)
        pred = self.net(log_mel)
        griffin_lim = self.front.griffin_lim(log_mel)
        return {
            "loss": float(loss),
            **logs,
            "log_mel_l1": log_mel_l1(self.front.log_mel(pred), log_mel),
            "spectral_convergence": spectral_convergence(pred, audio),
            "griffin_lim_log_mel_l1": log_mel_l1(self.front.log_mel(griffin_lim), log_mel),
            "griffin_lim_spectral_convergence": spectral_convergence(griffin_lim, audio),
        }
