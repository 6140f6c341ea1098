"""Audio samples on disk: WAV files (soundfile, 16-bit PCM) and log-mel spectrogram PNGs.

A sample is a ``Clip``. Files are named ``<prefix>_<index>_label-<label>.wav`` so that
``load_clips_folder`` reads the labels back (it also accepts ``<label>/<file>.wav``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from fick.domains.audio.audio_io import AUDIO_SUFFIXES, read_audio, write_wav
from fick.domains.base import FickError

__all__ = ["Clip", "export_clips", "load_clips_folder", "save_spectrogram_png"]

_LABEL = re.compile(r"_label-([^_/]+)$")


@dataclass
class Clip:
    """One audio sample: mono waveform (samples,), its rate, an optional label (class name) and
    ``compute_seconds``, the share of generation time it took (for the real-time factor)."""

    audio: torch.Tensor
    sample_rate: int
    label: str | None = None
    compute_seconds: float | None = None
    meta: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / self.sample_rate


def save_spectrogram_png(
    path: Path, log_mel: torch.Tensor, sample_rate: int, hop: int, title: str | None = None
) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = log_mel.shape[-1]
    fig, ax = plt.subplots(figsize=(4, 2.4), dpi=100)
    ax.imshow(
        log_mel.cpu().numpy(),
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, frames * hop / sample_rate, 0, log_mel.shape[0]),
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel bin")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def export_clips(
    clips: list[Clip], out_dir: str | Path, prefix: str = "sample", front_end=None
) -> list[Path]:
    """Write each clip as WAV and, with a ``MelFrontEnd``, its log-mel as PNG."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i, clip in enumerate(clips):
        stem = f"{prefix}_{i:05d}" + (f"_label-{clip.label}" if clip.label is not None else "")
        files.append(write_wav(out / f"{stem}.wav", clip.audio, clip.sample_rate))
        if front_end is not None:
            log_mel = front_end.log_mel(clip.audio.reshape(1, -1).to(front_end.mean.device))[0]
            files.append(
                save_spectrogram_png(
                    out / f"{stem}.png",
                    log_mel,
                    clip.sample_rate,
                    front_end.settings.hop_length,
                    title=clip.label,
                )
            )
    return files


def load_clips_folder(path: str | Path) -> list[Clip]:
    """Read a folder of audio files (or one file) back as clips, labels from the file names."""
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    else:
        raise FickError(f"samples path '{path}' does not exist: pass a folder of WAV files")
    if not files:
        raise FickError(f"no audio files in '{path}': pass the folder `fick sample` wrote")
    clips = []
    for f in files:
        audio, rate = read_audio(f)
        match = _LABEL.search(f.stem)
        if match:
            label = match.group(1)
        elif path.is_dir() and f.parent != path:
            label = f.parent.name
        else:
            label = None
        clips.append(Clip(audio.mean(dim=0), rate, label, meta={"path": str(f)}))
    return clips
