"""Audio samples on disk: WAV files (soundfile, 16-bit PCM), log-mel spectrogram PNGs and an
``index.html`` that plays them all.

A sample is a ``Clip``. Files are named ``<prefix>_<index>_label-<label>.wav`` so that
``load_clips_folder`` reads the labels back (it also accepts ``<label>/<file>.wav``).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import torch
from fick.domains.audio.audio_io import AUDIO_SUFFIXES, read_audio, write_wav
from fick.domains.base import FickError

__all__ = [
    "Clip",
    "export_clips",
    "load_clips_folder",
    "mel_band_centres",
    "save_spectrogram_png",
    "spectrogram_figure",
    "write_listening_page",
]

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


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    """Hz -> Slaney mel (linear below 1 kHz, logarithmic above), the front end's scale."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz * 3.0 / 200.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / _LOG_STEP, linear)


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp(_LOG_STEP * (mel - 15.0)), mel * 200.0 / 3.0)


_LOG_STEP = np.log(6.4) / 27.0


def mel_band_centres(n_mels: int, f_min: float, f_max: float) -> np.ndarray:
    """Centre frequency (Hz) of each of ``n_mels`` Slaney-scale triangular bands over
    [f_min, f_max]: the bands' peaks, equally spaced in mel."""
    points = np.linspace(_slaney_mel(f_min), _slaney_mel(f_max), n_mels + 2)
    return _slaney_hz(points[1:-1])


def _frequency_ticks(n_mels: int, f_min: float, f_max: float) -> tuple[list[float], list[str]]:
    """Round frequencies placed where they fall on the mel axis (bin k drawn over [k, k + 1])."""
    mel_min, mel_max = _slaney_mel(f_min), _slaney_mel(f_max)
    step = (mel_max - mel_min) / (n_mels + 1)
    positions, labels = [], []
    for hz in (0, 100, 200, 500, 1000, 2000, 3000, 4000, 6000, 8000, 12000, 16000, 24000):
        y = float((_slaney_mel(hz) - mel_min) / step - 0.5)
        if 0 <= y <= n_mels and (not positions or y - positions[-1] >= n_mels / 14):
            positions.append(y)
            labels.append(f"{hz // 1000}k" if hz >= 1000 and hz % 1000 == 0 else str(hz))
    return positions, labels


def spectrogram_figure(
    log_mel: torch.Tensor,
    sample_rate: int,
    hop: int,
    title: str | None = None,
    *,
    f_min: float = 0.0,
    f_max: float | None = None,
    dynamic_range_db: float = 80.0,
):
    """A matplotlib Figure of a natural-log mel magnitude (n_mels, frames): time in seconds,
    the mel bands labelled by their frequency in Hz, a colour bar in dB (20 log10 of the
    magnitude), the top ``dynamic_range_db`` shown."""
    from matplotlib.figure import Figure

    f_max = sample_rate / 2 if f_max is None else f_max
    db = log_mel.detach().float().cpu().numpy() * (20.0 / np.log(10.0))
    n_mels, frames = db.shape
    fig = Figure(figsize=(6.0, 3.0), dpi=100)
    ax = fig.subplots()
    image = ax.imshow(
        db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, frames * hop / sample_rate, 0, n_mels),
        vmin=max(float(db.min()), float(db.max()) - dynamic_range_db),
        vmax=float(db.max()),
        interpolation="nearest",
    )
    ax.set_xlabel("time (s)")
    ax.set_yticks(*_frequency_ticks(n_mels, f_min, f_max))
    ax.set_ylabel("frequency (Hz, mel scale)")
    ax.set_title(title or "log-mel spectrogram", fontsize=10)
    fig.colorbar(image, ax=ax, label="magnitude (dB)", pad=0.02)
    fig.tight_layout()
    return fig


def save_spectrogram_png(path: Path, log_mel: torch.Tensor, *args: Any, **kwargs: Any) -> Path:
    """``spectrogram_figure(log_mel, *args, **kwargs)`` written as a PNG at ``path``."""
    spectrogram_figure(log_mel, *args, **kwargs).savefig(path)
    return Path(path)


def write_listening_page(out_dir: Path, entries: list[dict], title: str) -> Path:
    """``index.html``: one ``<audio controls>`` per clip with its caption and spectrogram, the
    files linked by relative names so that the folder can be moved or served as it is."""
    cards = []
    for e in entries:
        image = (
            f'<img src="{html.escape(quote(e["png"]))}" alt="spectrogram of '
            f'{html.escape(e["caption"])}">'
            if e.get("png")
            else ""
        )
        cards.append(
            f"<figure><figcaption>{html.escape(e['caption'])}</figcaption>\n"
            f'<audio controls preload="none" src="{html.escape(quote(e["wav"]))}"></audio>\n'
            f"{image}</figure>"
        )
    body = "\n".join(cards)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:16px;color:#222}}
h1{{font-size:20px}} figure{{display:inline-block;vertical-align:top;margin:0 12px 16px 0;
border:1px solid #ddd;padding:8px;border-radius:4px}} figcaption{{font-weight:600;font-size:13px}}
audio{{display:block;width:600px;margin:6px 0}} img{{display:block;width:600px}}</style></head>
<body><h1>{html.escape(title)}</h1>
{body}
</body></html>
"""
    path = Path(out_dir) / "index.html"
    path.write_text(page)
    return path


def export_clips(
    clips: list[Clip], out_dir: str | Path, prefix: str = "sample", front_end=None
) -> list[Path]:
    """Write each clip as WAV and, with a ``MelFrontEnd``, its log-mel as PNG; ``index.html``
    beside them plays them all (written, not returned: the returned list is the samples)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files, entries = [], []
    for i, clip in enumerate(clips):
        stem = f"{prefix}_{i:05d}" + (f"_label-{clip.label}" if clip.label is not None else "")
        files.append(write_wav(out / f"{stem}.wav", clip.audio, clip.sample_rate))
        caption = (
            f"{prefix} {i}"
            + (f": {clip.label}" if clip.label is not None else "")
            + f" ({clip.seconds:.2f} s, {clip.sample_rate} Hz)"
        )
        entry = {"wav": f"{stem}.wav", "caption": caption}
        if front_end is not None:
            s = front_end.settings
            log_mel = front_end.log_mel(clip.audio.reshape(1, -1).to(front_end.mean.device))[0]
            files.append(
                save_spectrogram_png(
                    out / f"{stem}.png",
                    log_mel,
                    clip.sample_rate,
                    s.hop_length,
                    title=caption,
                    f_min=s.f_min,
                    f_max=s.f_max,
                )
            )
            entry["png"] = f"{stem}.png"
        entries.append(entry)
    if clips:
        write_listening_page(
            out, entries, f"{prefix}: {len(clips)} audio clip" + ("s" if len(clips) != 1 else "")
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
