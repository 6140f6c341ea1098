"""Reading, conditioning and writing audio clips.

Audio is read and written with ``soundfile`` (libsndfile: WAV, FLAC, OGG/Vorbis); torchaudio's
own ``load/save`` need torchcodec + FFmpeg, which a plain pip install does not bring. Each clip
is resampled with ``torchaudio.functional.resample``, mixed down to mono, trimmed or padded to a
fixed duration and loudness-normalised to a target RMS level (dBFS). Files that cannot be read or
are silent are reported and skipped, never a crash; other files in a dataset folder are listed as
ignored.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio
from fick.domains.base import FickError

__all__ = [
    "AUDIO_SUFFIXES",
    "LoadReport",
    "condition_clip",
    "discover_files",
    "ignored_files",
    "load_clips",
    "read_audio",
    "rms_dbfs",
    "write_wav",
]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
SILENCE_DBFS = -60.0  # a clip whose RMS is below this is treated as silent
REASON_CHARS = 160  # a longer reason is shortened at a word boundary


@dataclass
class LoadReport:
    """What happened to each file: loaded, skipped (an audio file that could not be used) with
    the reason, or ignored (not an audio file at all)."""

    loaded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # path -> reason
    ignored: dict[str, str] = field(default_factory=dict)  # path -> reason
    uncaptioned: list[str] = field(default_factory=list)  # loaded, but no or an empty caption

    def summary(self) -> str:
        head = f"loaded {len(self.loaded)} clips, skipped {len(self.skipped)}"
        if self.ignored:
            head += f", ignored {len(self.ignored)} non-audio files"
        if self.uncaptioned:
            head += f", {len(self.uncaptioned)} without a caption (missing or empty)"
        lines = [head]
        lines += [f"  no caption: {path}" for path in self.uncaptioned[:10]]
        if len(self.uncaptioned) > 10:
            lines.append(f"  ... and {len(self.uncaptioned) - 10} more without a caption")
        lines += [f"  skipped {path}: {reason}" for path, reason in sorted(self.skipped.items())]
        lines += [f"  ignored {path}: {reason}" for path, reason in sorted(self.ignored.items())]
        return "\n".join(lines)


def _reason(err: Exception, path: str) -> str:
    """One line saying why ``path`` could not be read, never cut inside a word: soundfile's
    "Error opening '<path>': " prefix (the path is printed beside it already) is dropped."""
    text = " ".join(str(err).split())
    for quoted in (f"'{path}'", f'"{path}"', path):
        text = text.replace(f"Error opening {quoted}: ", "").replace(quoted, "the file")
    if len(text) > REASON_CHARS:
        text = text[: REASON_CHARS + 1].rsplit(" ", 1)[0].rstrip(",;:") + " ..."
    return f"unreadable ({type(err).__name__}: {text or 'no message'})"


def read_audio(path: str | Path) -> tuple[torch.Tensor, int]:
    """Read a file with soundfile: float32 tensor (channels, samples) and its sample rate."""
    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(rate)


def write_wav(path: str | Path, audio: torch.Tensor, sample_rate: int) -> Path:
    """Write a mono (samples,) or (channels, samples) float clip as 16-bit PCM WAV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = audio.detach().float().cpu().clamp(-1.0, 1.0).numpy()
    soundfile.write(str(path), data.T if data.ndim == 2 else data, sample_rate, subtype="PCM_16")
    return path


def rms_dbfs(audio: torch.Tensor) -> float:
    """Root-mean-square level in dB relative to full scale (a full-scale sine is -3 dBFS)."""
    rms = float(audio.double().pow(2).mean().sqrt())
    return 20.0 * math.log10(rms) if rms > 0 else -math.inf


def condition_clip(
    audio: torch.Tensor,
    rate: int,
    *,
    sample_rate: int,
    num_samples: int | None,
    target_dbfs: float | None,
) -> torch.Tensor:
    """Mono mix-down, resampling, trim/zero-pad to ``num_samples`` (at the end), RMS loudness
    normalisation to ``target_dbfs`` with peaks kept below full scale. Returns (samples,)."""
    mono = audio.mean(dim=0) if audio.ndim == 2 else audio
    if rate != sample_rate:
        mono = torchaudio.functional.resample(mono, rate, sample_rate)
    if num_samples is not None:
        mono = mono[:num_samples]
        if mono.numel() < num_samples:
            mono = torch.nn.functional.pad(mono, (0, num_samples - mono.numel()))
    if target_dbfs is not None:
        level = rms_dbfs(mono)
        if math.isfinite(level):
            mono = mono * 10.0 ** ((target_dbfs - level) / 20.0)
            peak = float(mono.abs().max())
            if peak > 0.99:  # keep the waveform in range: quieter than the target beats clipping
                mono = mono * (0.99 / peak)
    return mono.contiguous()


def discover_files(root: str | Path, manifest: str | Path | None = None) -> list[dict]:
    """List the clips of a dataset: ``[{"path", "label", "caption", "split"}]``.

    Without a manifest, every audio file under ``root`` (recursively) is a clip whose label is
    the name of its first-level subfolder (no label for files directly in ``root``). A manifest is
    a CSV with rows ``path,label[,caption]`` (paths relative to the manifest's folder or
    absolute); a header line naming ``path,label`` columns may add ``caption`` and ``split``.
    """
    if manifest is not None:
        return _read_manifest(Path(manifest))
    root = Path(root)
    if not root.is_dir():
        raise FickError(
            f"audio folder '{root}' does not exist: pass an existing folder with "
            "--set data.root=PATH"
        )
    items = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        rel = path.relative_to(root)
        label = rel.parts[0] if len(rel.parts) > 1 else None
        items.append({"path": str(path), "label": label, "caption": None, "split": None})
    if not items:
        raise FickError(
            f"no {'/'.join(AUDIO_SUFFIXES)} files under '{root}': point data.root at "
            "a folder of audio files (one subfolder per label)"
        )
    return items


def ignored_files(root: str | Path) -> dict[str, str]:
    """The files under ``root`` that :func:`discover_files` passes over, with the reason:
    every file that is not audio, except hidden ones (``.DS_Store``, ``.git/``)."""
    root = Path(root)
    ignored = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or path.suffix.lower() in AUDIO_SUFFIXES:
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue
        kind = f"a {path.suffix} file" if path.suffix else "a file without a suffix"
        ignored[str(path)] = f"not audio ({kind}; fick reads {', '.join(AUDIO_SUFFIXES)})"
    return ignored


def _read_manifest(manifest: Path) -> list[dict]:
    if not manifest.is_file():
        raise FickError(f"manifest '{manifest}' does not exist: pass a CSV of path,label[,caption]")
    with manifest.open(newline="") as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    header = [c.strip().lower() for c in rows[0]] if rows else []
    if "path" in header and "label" in header:
        columns, rows = header, rows[1:]
    else:
        columns = ["path", "label", "caption"]
    items = []
    for row in rows:
        record = dict(zip(columns, (c.strip() for c in row)))
        path = Path(record["path"])
        if not path.is_absolute():
            path = manifest.parent / path
        items.append(
            {
                "path": str(path),
                "label": record.get("label") or None,
                "caption": record.get("caption") or None,
                "split": record.get("split") or None,
            }
        )
    return items


def load_clips(
    items: list[dict],
    *,
    sample_rate: int,
    num_samples: int | None,
    target_dbfs: float | None,
    report: LoadReport | None = None,
) -> tuple[list[torch.Tensor], list[dict], LoadReport]:
    """Read and condition every item; unreadable, empty or silent files go to the report."""
    report = report or LoadReport()
    clips, kept = [], []
    for item in items:
        path = item["path"]
        try:
            audio, rate = read_audio(path)
        except Exception as err:  # soundfile raises LibsndfileError, RuntimeError, OSError ...
            report.skipped[path] = _reason(err, path)
            continue
        if audio.numel() == 0:
            report.skipped[path] = "empty"
            continue
        if not torch.isfinite(audio).all():
            report.skipped[path] = "contains NaN or infinite samples"
            continue
        clip = condition_clip(
            audio, rate, sample_rate=sample_rate, num_samples=num_samples, target_dbfs=None
        )
        if rms_dbfs(clip) < SILENCE_DBFS:
            report.skipped[path] = f"silent (RMS below {SILENCE_DBFS:.0f} dBFS)"
            continue
        if target_dbfs is not None:
            clip = condition_clip(
                clip,
                sample_rate,
                sample_rate=sample_rate,
                num_samples=None,
                target_dbfs=target_dbfs,
            )
        clips.append(clip)
        kept.append(item)
        report.loaded.append(path)
    return clips, kept, report
