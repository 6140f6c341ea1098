"""Audio exports people open: spectrogram PNGs with time / Hz axes and a dB colour bar, and the
index.html that plays every exported clip."""

import math
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import torch
import torchaudio
from fick.domains.audio.export import (
    Clip,
    export_clips,
    load_clips_folder,
    mel_band_centres,
    spectrogram_figure,
)
from fick.domains.audio.features import MelFrontEnd, MelSettings
from PIL import Image

SETTINGS = MelSettings()  # 16 kHz, hop 160, 64 Slaney mel bands over 0-8 kHz


def _tone(hz, seconds=0.5, rate=16000, amplitude=0.5):
    t = torch.arange(int(seconds * rate)) / rate
    return amplitude * torch.sin(2 * math.pi * hz * t)


def test_mel_band_centres_are_the_peaks_of_torchaudio_filters():
    # the front end's filters (torchaudio, Slaney scale and norm): each band peaks at its centre
    n_fft = SETTINGS.n_fft
    bank = torchaudio.functional.melscale_fbanks(
        n_fft // 2 + 1, SETTINGS.f_min, SETTINGS.f_max, SETTINGS.n_mels, SETTINGS.sample_rate,
        norm="slaney", mel_scale="slaney",
    )
    peaks = bank.argmax(dim=0).numpy() * SETTINGS.sample_rate / n_fft
    centres = mel_band_centres(SETTINGS.n_mels, SETTINGS.f_min, SETTINGS.f_max)
    bin_hz = SETTINGS.sample_rate / n_fft
    # the peak is the FFT bin nearest the centre on a triangle with unequal slopes: one bin
    assert np.abs(centres - peaks).max() <= bin_hz


def test_spectrogram_axes_ticks_in_hz_and_colour_bar_in_db():
    front = MelFrontEnd(SETTINGS)
    log_mel = front.log_mel(_tone(1000.0, seconds=1.5)[None])[0]
    fig = spectrogram_figure(log_mel, SETTINGS.sample_rate, SETTINGS.hop_length, "a 1 kHz tone",
                             f_min=SETTINGS.f_min, f_max=SETTINGS.f_max)
    ax, bar = fig.axes
    assert ax.get_xlabel() == "time (s)" and "Hz" in ax.get_ylabel()
    assert ax.get_title() == "a 1 kHz tone"
    assert ax.get_xlim() == pytest.approx((0.0, 1.5))
    assert "dB" in bar.get_ylabel()
    # each tick names the frequency of the band drawn there: bin k spans [k, k + 1]
    centres = mel_band_centres(SETTINGS.n_mels, SETTINGS.f_min, SETTINGS.f_max)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert {"500", "1k", "4k"} <= set(labels)
    for y, text in zip(ax.get_yticks(), labels):
        hz = float(text[:-1]) * 1000 if text.endswith("k") else float(text)
        drawn = np.interp(y - 0.5, np.arange(len(centres)), centres)
        assert drawn == pytest.approx(hz, rel=0.03, abs=20)
    # the tone's row is the brightest, in dB: 20 log10 of the magnitude
    image = ax.get_images()[0]
    db = np.asarray(image.get_array())
    assert np.allclose(db, log_mel.numpy() * 20 / np.log(10), atol=1e-3)
    row = db.mean(axis=1).argmax()
    assert centres[row] == pytest.approx(1000, rel=0.08)
    assert image.get_clim()[1] - image.get_clim()[0] == pytest.approx(80.0)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.audio, self.images, self.captions, self._in_caption = [], [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "audio":
            assert "controls" in attrs
            self.audio.append(unquote(attrs["src"]))
        elif tag == "img":
            self.images.append(unquote(attrs["src"]))
        self._in_caption = tag == "figcaption"

    def handle_data(self, data):
        if self._in_caption:
            self.captions.append(data)
            self._in_caption = False


def test_export_writes_pngs_and_an_index_that_plays_every_wav(tmp_path):
    front = MelFrontEnd(SETTINGS)
    clips = [Clip(_tone(440.0), 16000, "a4"), Clip(_tone(880.0), 16000, "a 5&b"),
             Clip(_tone(220.0, seconds=0.25), 16000)]
    out = tmp_path / "samples"
    files = export_clips(clips, out, front_end=front)
    assert sorted(f.suffix for f in files) == [".png"] * 3 + [".wav"] * 3  # index not returned
    wavs = sorted(p.name for p in out.glob("*.wav"))
    page = _Links()
    page.feed((out / "index.html").read_text())
    assert sorted(page.audio) == wavs  # every WAV, by its name relative to the page
    assert sorted(page.images) == sorted(p.name for p in out.glob("*.png"))
    assert all((out / Path(src)).is_file() and "/" not in src for src in page.audio)
    assert page.captions[1].startswith("sample 1: a 5&b") and "0.25 s" in page.captions[2]
    # the PNG is a real figure: axes, colour bar, a bright tone line on a dark background
    img = np.asarray(Image.open(out / "sample_00000_label-a4.png").convert("L"))
    assert img.shape == (300, 600) and img.std() > 30
    # the folder still reads back as the clips (index.html and PNGs ignored)
    assert [c.label for c in load_clips_folder(out)] == ["a4", "a 5&b", None]


def test_export_without_front_end_lists_only_the_audio(tmp_path):
    export_clips([Clip(_tone(300.0), 16000, "x")], tmp_path)
    page = _Links()
    page.feed((tmp_path / "index.html").read_text())
    assert page.audio == ["sample_00000_label-x.wav"] and page.images == []
