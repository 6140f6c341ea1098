"""Pitch and speed measured from audio recover known values: synthetic tones of known f0 and
length, and eSpeak NG clips of known pitch and rate settings."""

import numpy as np
import pytest
import torch
import torchaudio
from fick.domains.audio.espeak import synthesise_in_subprocess
from fick.domains.audio.prompt_metrics import direction_accuracy, median_f0, voiced_duration

RATE = 16000


def _tone(f0, start, seconds, total=1.0):
    t = np.arange(int(RATE * seconds)) / RATE
    clip = np.zeros(int(RATE * total))
    s = int(RATE * start)
    harmonic = np.sin(2 * np.pi * f0 * t) + 0.5 * np.sin(4 * np.pi * f0 * t)
    clip[s : s + t.size] = 0.3 * harmonic
    return torch.tensor(clip, dtype=torch.float32)


@pytest.mark.parametrize("f0", [110.0, 180.0, 260.0])
def test_f0_of_harmonic_tones(f0):
    assert median_f0(_tone(f0, 0.2, 0.4), RATE) == pytest.approx(f0, rel=0.05)


@pytest.mark.parametrize("seconds", [0.2, 0.35, 0.6])
def test_voiced_duration_of_tones(seconds):
    assert voiced_duration(_tone(150.0, 0.1, seconds), RATE) == pytest.approx(seconds, abs=0.02)


def test_silence_has_no_pitch():
    assert np.isnan(median_f0(torch.zeros(RATE), RATE))
    assert voiced_duration(torch.zeros(RATE), RATE) == 0.0


def test_direction_accuracy():
    assert direction_accuracy([1.0, 3.0, 5.0, 2.0], [+1, +1, -1, 0], [2.0, 2.0, 2.0, 2.0]) == (
        pytest.approx(1 / 3)
    )
    assert np.isnan(direction_accuracy([1.0], [0], [1.0]))


def test_espeak_pitch_and_rate_settings_are_recovered():
    requests = [
        {"text": "seven", "voice": "en", "rate": rate, "pitch": pitch, "pitch_range": 20}
        for pitch in (15, 85)
        for rate in (120, 240)
    ]
    clips = [
        torchaudio.functional.resample(torch.from_numpy(a.astype(np.float32) / 32768), 22050, RATE)
        for a in synthesise_in_subprocess(requests)
    ]
    f0 = [median_f0(c, RATE) for c in clips]
    dur = [voiced_duration(c, RATE) for c in clips]
    # pitch 85 is higher than pitch 15 at both rates; rate 240 shorter than 120 at both pitches
    assert f0[2] > 1.2 * f0[0] and f0[3] > 1.2 * f0[1]
    assert dur[1] < 0.8 * dur[0] and dur[3] < 0.8 * dur[2]
