"""The log-mel front end and its training-free inverse (Griffin-Lim).

Defaults follow AudioLDM: 16 kHz, n_fft 1024, hop 160, 64 mel bands over 0-8 kHz, a magnitude
(power 1) STFT, Slaney-normalised Slaney-scale filters, natural log of the magnitude clamped at
1e-5. Log-mels are standardised with a mean and standard deviation measured on the training data
("global": two scalars; "per_bin": one pair per mel band; "none").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torchaudio
from torch import nn

__all__ = ["MelSettings", "MelFrontEnd", "LOG_FLOOR"]

LOG_FLOOR = 1e-5


@dataclass
class MelSettings:
    """Front-end settings; stored in a dataset's info so a model rebuilds the same front end."""

    sample_rate: int = 16000
    n_fft: int = 1024
    hop_length: int = 160
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float = 8000.0

    def to_dict(self) -> dict:
        return asdict(self)


class MelFrontEnd(nn.Module):
    """Waveform <-> standardised log-mel. ``forward(audio (B, L)) -> (B, n_mels, L // hop)``.

    The centred STFT gives ``L // hop + 1`` frames; the last one (half a window of padding) is
    dropped so a clip of ``k`` hops maps to exactly ``k`` frames and back to ``k * hop`` samples.
    """

    def __init__(
        self,
        settings: MelSettings | dict | None = None,
        mean=0.0,
        std=1.0,
        griffin_lim_iters: int = 32,
    ):
        super().__init__()
        if isinstance(settings, dict):
            settings = MelSettings(**settings)
        self.settings = s = settings or MelSettings()
        # Kept out of the module tree: its window and filterbank follow from the settings,
        # and torchaudio's window buffer is a view that safetensors refuses to save.
        self._mel = [
            torchaudio.transforms.MelSpectrogram(
                sample_rate=s.sample_rate,
                n_fft=s.n_fft,
                hop_length=s.hop_length,
                f_min=s.f_min,
                f_max=s.f_max,
                n_mels=s.n_mels,
                power=1.0,
                norm="slaney",
                mel_scale="slaney",
                center=True,
            )
        ]
        self.griffin_lim_iters = griffin_lim_iters
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1)
        # Statistics are persistent buffers: they travel with the weights of every model.
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    def log_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """Unnormalised natural-log mel magnitude, (..., n_mels, frames)."""
        if self._mel[0].mel_scale.fb.device != audio.device:
            self._mel[0] = self._mel[0].to(audio.device)
        mel = self._mel[0](audio.float())[..., :-1]
        return torch.log(mel.clamp(min=LOG_FLOOR))

    def normalize(self, log_mel: torch.Tensor) -> torch.Tensor:
        return (log_mel - self.mean) / self.std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.log_mel(audio))

    def num_frames(self, seconds: float) -> int:
        return int(round(seconds * self.settings.sample_rate / self.settings.hop_length))

    @torch.no_grad()
    def griffin_lim(
        self,
        log_mel: torch.Tensor,
        n_iter: int | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Invert an unnormalised log-mel (..., n_mels, frames) to audio (..., frames * hop):
        least-squares mel -> linear magnitude (InverseMelScale), then Griffin-Lim phase
        retrieval (torchaudio, ``n_iter`` iterations, 32 by default as in Riffusion)."""
        s = self.settings
        device = log_mel.device
        inverse = torchaudio.transforms.InverseMelScale(
            n_stft=s.n_fft // 2 + 1,
            n_mels=s.n_mels,
            sample_rate=s.sample_rate,
            f_min=s.f_min,
            f_max=s.f_max,
            norm="slaney",
            mel_scale="slaney",
        ).to(device)
        magnitude = inverse(torch.exp(log_mel.float()))
        # Restore the dropped last frame so the centred iSTFT yields frames * hop samples.
        magnitude = torch.cat([magnitude, magnitude[..., -1:]], dim=-1)
        gl = torchaudio.transforms.GriffinLim(
            n_fft=s.n_fft,
            hop_length=s.hop_length,
            power=1.0,
            n_iter=n_iter or self.griffin_lim_iters,
            rand_init=False,
        ).to(device)
        audio = gl(magnitude)
        return audio[..., : log_mel.shape[-1] * s.hop_length]
