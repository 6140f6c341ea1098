"""A synthesised spoken-digits set (SC09-like) made offline with eSpeak NG.

The ten English digits "zero" .. "nine", each spoken by many eSpeak NG voices (voice variants x
English accents) at random pitch, pitch range and speed, resampled to 16 kHz, leading and
trailing silence trimmed, placed at a random offset in a 1 s clip, RMS-normalised with a random
gain. Everything random comes from one ``numpy`` generator seeded by ``seed`` and the synthesis
runs in a fresh process, so the same seed gives byte-identical WAV files.

The split is speaker-disjoint like SC09's: a voice variant belongs to train, validation or test
by a fixed hash of its name (not by the seed), so test voices are never heard in training.

Each clip has a caption from its synthesis settings (word, speed, pitch, accent); with
``data.heldout_combinations`` ten word x speed x pitch combinations move to the test split too.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import torch
import torchaudio
from fick.domains.audio.audio_io import rms_dbfs, write_wav
from fick.domains.audio.espeak import synthesise_in_subprocess

__all__ = [
    "DIGITS",
    "VOICE_VARIANTS",
    "add_captions",
    "caption",
    "caption_parts",
    "generate_spoken_digits",
    "heldout_combination",
    "heldout_combinations",
    "variant_split",
]

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


SPEEDS = ("slowly", "at a normal pace", "fast")  # eSpeak rate < 160, 160..200, > 200 wpm
PITCHES = ("low", "medium", "high")  # eSpeak pitch < 38, 38..62, > 62 (of 0..100)
ACCENT_NAMES = {
    "en": "an English",
    "en-us": "an American",
    "en-gb-scotland": "a Scottish",
    "en-gb-x-rp": "a British",
    "en-029": "a Caribbean",
}
_CAPTION = re.compile(r"^(\w+), spoken (.+?) in a (\w+) voice(?: with .+ accent)?$")


def speed_bucket(rate: int) -> int:
    return 0 if rate < 160 else (2 if rate > 200 else 1)


def pitch_bucket(pitch: int) -> int:
    return 0 if pitch < 38 else (2 if pitch > 62 else 1)


def caption(word: str, rate: int, pitch: int, accent: str) -> str:
    """What the generator knows of a clip, in words: "seven, spoken slowly in a low voice with
    a Scottish accent"."""
    return (
        f"{word}, spoken {SPEEDS[speed_bucket(rate)]} in a {PITCHES[pitch_bucket(pitch)]} voice "
        f"with {ACCENT_NAMES.get(accent, 'an English')} accent"
    )


def caption_parts(text: str) -> tuple[str, int, int] | None:
    """(word, speed bucket, pitch bucket) of a synthesised set's caption; None otherwise."""
    m = _CAPTION.match(text.strip()) if text else None
    if not m or m.group(1) not in DIGITS or m.group(2) not in SPEEDS or m.group(3) not in PITCHES:
        return None
    return m.group(1), SPEEDS.index(m.group(2)), PITCHES.index(m.group(3))


def heldout_combination(word: str, speed: int, pitch: int) -> bool:
    """One word x speed x pitch combination per digit never trained on (10 of 90): speed
    ``w mod 3`` with pitch ``(w + speed) mod 3`` for digit ``w``, so every speed and pitch is
    held out with several words, and every word is trained on its other eight combinations."""
    w = DIGITS.index(word)
    return speed == w % 3 and pitch == (w + speed) % 3


def heldout_combinations() -> list[tuple[str, int, int]]:
    """The ten (word, speed bucket, pitch bucket) that ``heldout_combination`` keeps out."""
    return [
        (w, s, p) for w in DIGITS for s in range(len(SPEEDS)) for p in range(len(PITCHES))
        if heldout_combination(w, s, p)
    ]  # fmt: skip


def _plan(per_class: int, seed: int) -> list[dict]:
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
    return plan


def _rel_path(p: dict) -> str:
    return (Path(p["label"]) / f"{p['label']}_{p['index']:05d}.wav").as_posix()


def _caption_of(p: dict) -> str:
    return caption(p["label"], p["rate"], p["pitch"], p["accent"])


def add_captions(folder: str | Path, *, per_class: int, seed: int) -> None:
    """Give a set synthesised before captions existed its caption column: the plan is a pure
    function of (per_class, seed), so the captions follow without synthesising again."""
    manifest = Path(folder) / "manifest.csv"
    with manifest.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows or "caption" in rows[0]:
        return
    captions = {_rel_path(p): _caption_of(p) for p in _plan(per_class, seed)}
    tmp = manifest.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(rows[0] + ["caption"])
        writer.writerows(r + [captions.get(r[0], "")] for r in rows[1:])
    os.replace(tmp, manifest)


def generate_spoken_digits(
    out: str | Path, *, per_class: int = 200, seed: int = 0, progress=None
) -> Path:
    """Write ``out/<digit>/<digit>_<i>.wav`` (16 kHz mono 16-bit, 1 s) and ``out/manifest.csv``
    (path,label,split,voice,caption). Returns the manifest's path."""
    out = Path(out)
    plan = _plan(per_class, seed)
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
        rel = _rel_path(p)
        write_wav(out / rel, clip, SAMPLE_RATE)
        rows.append(
            [
                rel,
                p["label"],
                variant_split(p["variant"]),
                f"{p['accent']}+{p['variant']}",
                _caption_of(p),
            ]
        )
        if progress is not None:
            progress(k + 1, len(plan))
    manifest = out / "manifest.csv"
    tmp = manifest.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "split", "voice", "caption"])
        writer.writerows(rows)
    os.replace(tmp, manifest)  # the manifest appears last: its presence marks a complete set
    return manifest
