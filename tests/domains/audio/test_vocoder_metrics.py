"""Vocoder metrics against direct calls of pesq / pystoi / auraloss on synthetic speech-like
signals, their ordering on clean vs degraded audio, and the vocoder=griffin-lim|neural option."""

import math

import auraloss
import numpy as np
import pytest
import torch
from fick.domains.audio.features import MelFrontEnd
from fick.domains.audio.vocoder_metrics import mr_stft_distance, pesq_wb, score_vocoder, stoi
from pesq import pesq
from pystoi import stoi as direct_stoi


def _speechlike(seconds=2.0, rate=16000, seed=0):
    """Harmonic 'vowels' (f0 120-220 Hz, 3 formant-like harmonics) switched on and off at a
    syllable rate: enough voiced energy for PESQ's voice-activity detector."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 170 + 50 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(a * np.sin(k * phase) for k, a in ((1, 1.0), (2, 0.6), (3, 0.4), (5, 0.2)))
    envelope = (np.sin(2 * np.pi * 3.0 * t) > -0.3).astype(float)
    x = x * envelope + 0.003 * rng.standard_normal(t.size)
    return (0.1 * x / np.abs(x).max()).astype(np.float64)


def test_pesq_and_stoi_match_the_libraries():
    ref = _speechlike()
    deg = ref + 0.02 * np.random.default_rng(1).standard_normal(ref.size)
    assert pesq_wb(ref, deg) == pytest.approx(pesq(16000, ref, deg, "wb"), abs=1e-9)
    assert stoi(ref, deg) == pytest.approx(direct_stoi(ref, deg, 16000, extended=False), abs=1e-9)
    # torch input of another length is cut to the shorter one, same numbers
    assert pesq_wb(torch.tensor(ref), torch.tensor(deg[:-37])) == pytest.approx(
        pesq(16000, ref[:-37], deg[:-37], "wb"), abs=1e-9
    )
    # the reference against itself is the ceiling; noise lowers both
    assert pesq_wb(ref, ref) > 4.5 and stoi(ref, ref) == pytest.approx(1.0, abs=1e-6)
    assert pesq_wb(ref, deg) < pesq_wb(ref, ref) and stoi(ref, deg) < 1.0


def test_pesq_without_speech_is_nan_not_a_crash():
    assert math.isnan(pesq_wb(np.zeros(16000), np.zeros(16000)))
    with pytest.raises(Exception, match="16 kHz"):
        pesq_wb(np.zeros(8000), np.zeros(8000), 8000)


def test_mr_stft_distance_is_auraloss():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 8000, generator=g), torch.randn(2, 8000, generator=g)
    direct = float(auraloss.freq.MultiResolutionSTFTLoss()(a[:, None], b[:, None]))
    assert mr_stft_distance(a, b) == pytest.approx(direct, rel=1e-6)
    assert mr_stft_distance(a, a) < 1e-3 < mr_stft_distance(a, b)


def test_score_vocoder_ranks_griffin_lim_below_the_real_clip():
    front = MelFrontEnd()
    audio = torch.tensor(
        np.stack([_speechlike(1.0, seed=s) for s in range(2)]), dtype=torch.float32
    )
    log_mel = front.log_mel(audio)
    it = iter(audio.split(16))
    real = score_vocoder(lambda m: next(it), log_mel, audio, front)
    gl = score_vocoder(lambda m: front.griffin_lim(m, n_iter=8), log_mel, audio, front)
    assert real["stoi"] == pytest.approx(1.0, abs=1e-6) and real["log_mel_l1"] < 1e-6
    assert gl["stoi"] < real["stoi"] and gl["pesq_wb"] < real["pesq_wb"]
    assert gl["log_mel_l1"] > 0.01 and gl["x_real_time"] > 0
