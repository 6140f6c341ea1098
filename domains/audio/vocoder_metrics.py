"""Objective quality of a vocoder against the real waveform it should reproduce.

- PESQ wide-band (ITU-T P.862.2, the ``pesq`` package; MOS-LQO 1.04 .. 4.64), 16 kHz only.
- STOI (Taal 2011, the ``pystoi`` package; 0 .. 1), resampled internally to 10 kHz by pystoi.
- multi-resolution STFT distance: auraloss' ``MultiResolutionSTFTLoss`` with its defaults
  (n_fft 1024 / 2048 / 512, spectral convergence + log-magnitude L1), lower is better.
- log-mel L1: mean |log mel(x_hat) - log mel(x)| on the model's own front end.
- speed: seconds of audio per CPU second (process time, all threads), "x real time".

STOI needs 30 frames (384 ms) of speech after its silent-frame removal, more than one short
word holds, so it is computed on groups of ``STOI_GROUP`` consecutive clips joined end to end
and averaged over the groups. Clips too quiet for PESQ's voice-activity detector
(``NoUtterancesError``) are left out of its mean and counted, never a crash.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import auraloss
import numpy as np
import torch
from fick.domains.base import FickError

__all__ = ["STOI_GROUP", "pesq_wb", "score_vocoder", "stoi", "mr_stft_distance"]

STOI_GROUP = 8


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().double().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def pesq_wb(reference, degraded, sample_rate: int = 16000) -> float:
    """PESQ wide-band MOS-LQO of one clip; NaN when PESQ finds no speech in the reference."""
    from pesq import NoUtterancesError, pesq

    if sample_rate != 16000:
        raise FickError(f"PESQ wide-band needs 16 kHz audio, got {sample_rate} Hz")
    ref, deg = _numpy(reference), _numpy(degraded)
    n = min(ref.shape[-1], deg.shape[-1])
    try:
        with np.errstate(invalid="ignore", divide="ignore"):  # pesq divides by the peak
            return float(pesq(sample_rate, ref[:n], deg[:n], "wb"))
    except NoUtterancesError:
        return math.nan


def stoi(reference, degraded, sample_rate: int = 16000) -> float:
    """Short-time objective intelligibility of one clip (0 .. 1)."""
    from pystoi import stoi as _stoi

    ref, deg = _numpy(reference), _numpy(degraded)
    n = min(ref.shape[-1], deg.shape[-1])
    return float(_stoi(ref[:n], deg[:n], sample_rate, extended=False))


_MR_STFT = None


def mr_stft_distance(pred: torch.Tensor, target: torch.Tensor) -> float:
    """auraloss' multi-resolution STFT loss (defaults) of (B, L) batches, as a float."""
    global _MR_STFT
    if _MR_STFT is None:
        _MR_STFT = auraloss.freq.MultiResolutionSTFTLoss()
    n = min(pred.shape[-1], target.shape[-1])
    with torch.no_grad():
        return float(_MR_STFT(pred[:, None, :n].float(), target[:, None, :n].float()))


def score_vocoder(
    vocode: Callable[[torch.Tensor], torch.Tensor],
    log_mel: torch.Tensor,
    audio: torch.Tensor,
    front,
    *,
    batch_size: int = 16,
) -> dict[str, float]:
    """Vocode ``log_mel`` (N, M, T) in batches and score it against ``audio`` (N, T * hop):
    mean PESQ-WB, STOI, MR-STFT distance, log-mel L1, and x real time per CPU second."""
    rate = front.settings.sample_rate
    outputs, cpu = [], 0.0
    for chunk in log_mel.split(batch_size):
        c0 = time.process_time()
        with torch.no_grad():
            out = vocode(chunk)
        cpu += time.process_time() - c0
        outputs.append(out.float().cpu())
    pred = torch.cat(outputs)
    n = min(pred.shape[-1], audio.shape[-1])
    pred, audio = pred[..., :n], audio[..., :n].float()
    pesqs = [pesq_wb(a, p, rate) for a, p in zip(audio, pred)]
    valid = [v for v in pesqs if not math.isnan(v)]
    return {
        "pesq_wb": float(np.mean(valid)) if valid else math.nan,
        "pesq_skipped": len(pesqs) - len(valid),
        "stoi": float(
            np.mean(
                [
                    stoi(a.flatten(), p.flatten(), rate)
                    for a, p in zip(audio.split(STOI_GROUP), pred.split(STOI_GROUP))
                ]
            )
        ),
        "mr_stft": mr_stft_distance(pred, audio),
        "log_mel_l1": float((front.log_mel(pred) - front.log_mel(audio)).abs().mean()),
        "x_real_time": (n * pred.shape[0] / rate) / max(cpu, 1e-9),
    }
