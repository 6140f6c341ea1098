"""What a prompt asked for, measured back from the audio by signal processing.

- f0: YIN per 40 ms frame (torchaudio's ``detect_pitch_frequency`` makes octave errors on
  eSpeak's voices), the median over the clip's loud frames (Hz).
- voiced duration: the time (s) of 10 ms frames whose RMS is within ``VOICED_DB`` dB of the
  clip's loudest frame; a fast speaker says the word in less of it.
- direction accuracy: a "high" (or "low") prompt succeeds when the clip's f0 lies above (below)
  the median f0 of the real training clips of the same word; "fast" / "slowly" likewise with
  the voiced duration below / above that word's median. Medium pitch and normal pace ask for no
  direction and are not counted.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["VOICED_DB", "direction_accuracy", "median_f0", "voiced_duration"]

VOICED_DB = 30.0
FRAME_SECONDS = 0.01


def _frame_rms(audio: torch.Tensor, rate: int) -> torch.Tensor:
    hop = int(rate * FRAME_SECONDS)
    frames = audio[: audio.shape[-1] // hop * hop].reshape(-1, hop)
    return frames.pow(2).mean(dim=1).sqrt()


def voiced_duration(audio: torch.Tensor, rate: int) -> float:
    rms = _frame_rms(audio.float(), rate)
    if float(rms.max()) <= 0:
        return 0.0
    loud = rms > float(rms.max()) * 10 ** (-VOICED_DB / 20)
    return float(loud.sum()) * FRAME_SECONDS


def _yin_f0(frame: np.ndarray, rate: int, low: float, high: float, threshold=0.15) -> float:
    """f0 of one frame by YIN (de Cheveigne & Kawahara 2002): the first lag whose cumulative-
    mean-normalised difference dips below ``threshold`` (its local minimum), else the global
    minimum; NaN when even that is not periodic (d' > 0.5)."""
    lo_lag, hi_lag = int(rate / high), int(rate / low)
    n = frame.size - hi_lag
    if n <= 0:
        return float("nan")
    diff = np.array([np.sum((frame[:n] - frame[lag : lag + n]) ** 2) for lag in range(hi_lag + 1)])
    cmnd = np.ones_like(diff)
    cumulative = np.cumsum(diff[1:])
    cmnd[1:] = diff[1:] * np.arange(1, hi_lag + 1) / np.maximum(cumulative, 1e-12)
    below = np.flatnonzero(cmnd[lo_lag:] < threshold)
    if below.size:
        lag = lo_lag + below[0]
        while lag + 1 <= hi_lag and cmnd[lag + 1] < cmnd[lag]:
            lag += 1
    else:
        lag = lo_lag + int(np.argmin(cmnd[lo_lag:]))
        if cmnd[lag] > 0.5:
            return float("nan")
    if 0 < lag < hi_lag:  # parabolic interpolation of the minimum
        a, b, c = cmnd[lag - 1], cmnd[lag], cmnd[lag + 1]
        denom = a - 2 * b + c
        lag = lag + (0.5 * (a - c) / denom if denom > 0 else 0.0)
    return rate / lag


def median_f0(audio: torch.Tensor, rate: int, low: float = 60.0, high: float = 500.0) -> float:
    """Median f0 (Hz) over the loud 40 ms frames (hop 10 ms) of a clip; NaN when none."""
    x = audio.detach().double().cpu().numpy()
    rms = _frame_rms(audio.float(), rate).numpy()
    if rms.size == 0 or rms.max() <= 0:
        return float("nan")
    hop, size = int(rate * FRAME_SECONDS), int(rate * 0.04)
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-VOICED_DB / 20))
    f0 = [_yin_f0(x[i * hop : i * hop + size], rate, low, high) for i in loud]
    f0 = [v for v in f0 if not np.isnan(v)]
    return float(np.median(f0)) if f0 else float("nan")


def direction_accuracy(values, asked, reference) -> float:
    """Fraction of clips whose measure lies on the asked side of the reference median.

    ``values``: measures of the clips; ``asked``: +1 (above), -1 (below) or 0 (not counted)
    per clip; ``reference``: the median to compare with, per clip (e.g. that word's)."""
    hits = [
        (v - r) * a > 0
        for v, a, r in zip(values, asked, reference)
        if a != 0 and not np.isnan(v) and not np.isnan(r)
    ]
    return float(np.mean(hits)) if hits else float("nan")
