"""A synthesised spoken-digits set (SC09-like) made offline with eSpeak NG.

The ten English digits "zero" .. "nine", each spoken by many eSpeak NG voices (voice variants x
English accents) at random pitch, pitch range and speed, resampled to 16 kHz, leading and
trailing silence trimmed, placed at a random offset in a 1 s clip, RMS-normalised with a random
gain. Everything random comes from one ``numpy`` generator seeded by ``seed`` and the synthesis
runs in a fresh process, so the same seed gives byte-identical WAV files.

The split is speaker-disjoint like SC09's: a voice variant belongs to train, validation or test
by a fixed hash of its name (not by the seed), so test voices are never heard in training.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torchaudio
from fick.domains.audio.audio_io import rms_dbfs, write_wav
from fick.domains.audio.espeak import synthesise_in_subprocess

__all__ = ["DIGITS", "VOICE_VARIANTS", "generate_spoken_digits", "variant_split"]

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029")
SAMPLE_RATE = 16000
CLIP_SECONDS = 1.0


def _variants() -> tuple[str, ...]:
    try:
        import espeakng_loader

        folder = Path(espeakng_loader.get_data_path()) / "voices" / "!v"
        names = sorted(p.name for p in folder.iterdir() if p.is_file() and " " not in p.name)
    except Exception:  # pragma: no cover - the data folder ships with the wheel
        names = []
    # "Marco" speaks so slowly that digits overrun one second.
    return tuple(n for n in names if n != "Marco") or ("m1", "m3", "f1", "f2", "klatt")


VOICE_VARIANTS = _variants()


def variant_split(variant: str) -> str:
    """The fixed split of a voice variant: about 80% train, 10% validation, 10% test."""
    bucket = int(hashlib.md5(variant.encode()).hexdigest(), 16) % 10
    return "test" if bucket == 0 else "validation" if bucket == 1 else "train"


def _trim_silence(audio: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    loud = np.flatnonzero(np.abs(audio) > threshold * np.abs(audio).max())
    return audio[loud[0] : loud[-1] + 1] if loud.size else audio


def generate_spoken_digits(
    out: str | Path, *, per_class: int = 200, seed: int = 0, progress=None
) -> Path:
    """Write ``out/<digit>/<digit>_<i>.wav`` (16 kHz mono 16-bit, 1 s) and ``out/manifest.csv``
    (path,label,split,voice). Returns the manifest's path."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    plan = []
    for label in DIGITS:
        for i in range(per_class):
            plan.append(
                {
                    "label": label,
                    "index": i,
                    "variant": VOICE_VARIANTS[rng.integers(len(VOICE_VARIANTS))],
                    "accent": ACCENTS[rng.integers(len(ACCENTS))],
                    "rate": int(rng.integers(120, 241)),
                    "pitch": int(rng.integers(15, 86)),
                    "range": int(rng.integers(20, 91)),
                    "offset": float(rng.random()),
                    "gain_db": float(rng.uniform(-26.0, -16.0)),
                }
            )
    requests = [
        {
            "text": p["label"],
            "voice": f"{p['accent']}+{p['variant']}",
            "rate": p["rate"],
            "pitch": p["pitch"],
            "pitch_range": p["range"],
        }
        for p in plan
    ]
    raw = synthesise_in_subprocess(requests)
    num_samples = int(SAMPLE_RATE * CLIP_SECONDS)
    rows = []
    for k, (p, speech) in enumerate(zip(plan, raw)):
        speech = _trim_silence(speech.astype(np.float32) / 32768.0)
        audio = torchaudio.functional.resample(torch.from_numpy(speech), 22050, SAMPLE_RATE)
        if audio.numel() > num_samples:  # rare: a slow voice; keep the start, fade out the end
            audio = audio[:num_samples] * torch.linspace(1, 0, num_samples).clamp(max=0.05) * 20
        start = int(p["offset"] * (num_samples - audio.numel()))
        clip = torch.zeros(num_samples)
        clip[start : start + audio.numel()] = audio
        clip = clip * 10.0 ** ((p["gain_db"] - rms_dbfs(clip)) / 20.0)
        clip = clip * min(1.0, 0.99 / float(clip.abs().max()))
        rel = Path(p["label"]) / f"{p['label']}_{p['index']:05d}.wav"
        write_wav(out / rel, clip, SAMPLE_RATE)
        rows.append(
            [
                rel.as_posix(),
                p["label"],
                variant_split(p["variant"]),
                f"{p['accent']}+{p['variant']}",
            ]
        )
        if progress is not None:
            progress(k + 1, len(plan))
    manifest = out / "manifest.csv"
    tmp = manifest.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "split", "voice"])
        writer.writerows(rows)
    os.replace(tmp, manifest)  # the manifest appears last: its presence marks a complete set
    return manifest
