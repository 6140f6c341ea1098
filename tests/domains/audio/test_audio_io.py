"""Reading, conditioning and writing audio: soundfile round trips and a messy folder."""

import math

import numpy as np
import pytest
import soundfile
import torch
from fick.domains.audio.audio_io import (
    LoadReport,
    _reason,
    condition_clip,
    discover_files,
    ignored_files,
    load_clips,
    read_audio,
    rms_dbfs,
    write_wav,
)


def test_wav_round_trip_is_exact_to_16_bit(tmp_path):
    t = torch.arange(16000) / 16000
    audio = 0.5 * torch.sin(2 * math.pi * 440 * t)
    write_wav(tmp_path / "a.wav", audio, 16000)
    info = soundfile.info(str(tmp_path / "a.wav"))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    back, rate = read_audio(tmp_path / "a.wav")
    assert rate == 16000 and back.shape == (1, 16000)
    assert torch.max(torch.abs(back[0] - audio)) <= 1.0 / 32768 + 1e-7


@pytest.mark.parametrize("fmt", ["FLAC", "OGG"])
def test_flac_and_ogg_are_read(tmp_path, fmt):
    audio = 0.3 * np.sin(2 * np.pi * 300 * np.arange(8000) / 8000).astype(np.float32)
    path = tmp_path / f"a.{fmt.lower()}"
    soundfile.write(str(path), audio, 8000, format=fmt)
    back, rate = read_audio(path)
    assert rate == 8000 and back.shape[-1] == 8000
    # Vorbis is lossy: compare the levels, not the samples.
    assert abs(rms_dbfs(back) - rms_dbfs(torch.from_numpy(audio))) < 1.0


def test_rms_normalisation_hits_the_target():
    clip = condition_clip(
        0.01 * torch.randn(1, 4000), 16000, sample_rate=16000, num_samples=None, target_dbfs=-20.0
    )
    assert abs(rms_dbfs(clip) - (-20.0)) < 1e-3


def _messy_folder(root):
    sr_hi, sr_lo = 44100, 8000
    (root / "dog").mkdir(parents=True)
    (root / "cat").mkdir()
    t_hi = np.arange(int(0.5 * sr_hi)) / sr_hi
    left = 0.4 * np.sin(2 * np.pi * 1000 * t_hi)
    stereo = np.stack([left, -0.5 * left], axis=1).astype(np.float32)  # mono mix = 0.25 * left
    soundfile.write(str(root / "dog" / "stereo44k.wav"), stereo, sr_hi)
    t_lo = np.arange(int(1.5 * sr_lo)) / sr_lo
    soundfile.write(
        str(root / "cat" / "mono8k.wav"),
        (0.2 * np.sin(2 * np.pi * 500 * t_lo)).astype(np.float32),
        sr_lo,
    )
    soundfile.write(str(root / "cat" / "silent.wav"), np.zeros(8000, dtype=np.float32), sr_lo)
    (root / "dog" / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage, not audio")


def test_messy_folder_loads_good_files_and_reports_the_rest(tmp_path):
    _messy_folder(tmp_path)
    items = discover_files(tmp_path)
    assert {it["label"] for it in items} == {"dog", "cat"}
    clips, kept, report = load_clips(items, sample_rate=16000, num_samples=16000, target_dbfs=None)
    names = sorted(p.split("/")[-1] for p in report.loaded)
    assert names == ["mono8k.wav", "stereo44k.wav"]
    assert sorted(p.split("/")[-1] for p in report.skipped) == ["corrupt.wav", "silent.wav"]
    assert "unreadable" in report.skipped[str(tmp_path / "dog" / "corrupt.wav")]
    assert "silent" in report.skipped[str(tmp_path / "cat" / "silent.wav")]
    assert "corrupt.wav" in report.summary() and "silent.wav" in report.summary()
    by_name = {k["path"].split("/")[-1]: c for k, c in zip(kept, clips)}
    for clip in clips:
        assert clip.shape == (16000,)  # mono, resampled, trimmed or padded to 1 s
    stereo = by_name["stereo44k.wav"]
    # 0.5 s of a 1 kHz tone mixed down to 0.25 * 0.4 = 0.1 amplitude, then zero padding.
    assert abs(stereo[1000:7000].abs().max().item() - 0.1) < 0.005
    assert stereo[8100:].abs().max() < 1e-3
    spectrum = torch.fft.rfft(stereo[:8000]).abs()
    assert abs(int(spectrum.argmax()) * 16000 / 8000 - 1000) <= 2  # the tone survived resampling
    mono = by_name["mono8k.wav"]  # 1.5 s at 8 kHz -> trimmed to 1 s at 16 kHz
    spectrum = torch.fft.rfft(mono).abs()
    assert abs(int(spectrum.argmax()) - 500) <= 1


def test_manifest_with_captions(tmp_path):
    soundfile.write(str(tmp_path / "x.wav"), 0.1 * np.ones(1600, dtype=np.float32), 16000)
    (tmp_path / "m.csv").write_text("x.wav,bell,a small bell\n")
    items = discover_files(None, tmp_path / "m.csv")
    assert items == [
        {"path": str(tmp_path / "x.wav"), "label": "bell", "caption": "a small bell", "split": None}
    ]


def test_non_audio_files_are_listed_as_ignored_and_hidden_ones_are_not(tmp_path):
    _messy_folder(tmp_path)
    (tmp_path / "notes.txt").write_text("recorded in the garden")
    (tmp_path / "dog" / "README").write_text("dogs")
    (tmp_path / ".DS_Store").write_bytes(b"\0")
    ignored = ignored_files(tmp_path)
    assert sorted(ignored) == [str(tmp_path / "dog" / "README"), str(tmp_path / "notes.txt")]
    assert "not audio (a .txt file" in ignored[str(tmp_path / "notes.txt")]
    assert "without a suffix" in ignored[str(tmp_path / "dog" / "README")]
    report = LoadReport(ignored=ignored)
    assert "ignored 2 non-audio files" in report.summary()
    assert f"ignored {tmp_path / 'notes.txt'}: not audio" in report.summary()


def test_a_skip_reason_is_whole_words_without_the_path_again(tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / "dog"
    deep.mkdir(parents=True)
    bad = deep / "corrupt.wav"
    bad.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage, not audio")
    _, _, report = load_clips(
        [{"path": str(bad), "label": "dog"}], sample_rate=16000, num_samples=16000,
        target_dbfs=None,
    )
    reason = report.skipped[str(bad)]
    with pytest.raises(Exception) as raised:
        soundfile.read(str(bad))
    message = str(raised.value)  # "Error opening '<path>': <what is wrong>."
    assert message.startswith(f"Error opening '{bad}': ") and len(message) > 80  # was cut at 80
    whole = message.split("': ", 1)[1]
    assert reason == f"unreadable ({type(raised.value).__name__}: {whole})"
    words = " ".join(f"word{i:03d}" for i in range(60))  # 479 characters
    short = _reason(RuntimeError(words), "x.wav")
    assert short.endswith(" ...)") and len(short) < 200
    kept = short[len("unreadable (RuntimeError: "): -len(" ...)")]
    assert words.startswith(kept + " ")  # cut between two words, never inside one


def _stats_stderr(capsys, folder) -> str:
    from fick.pipelines.cli import main

    capsys.readouterr()
    assert main(["data", "audio", "stats", "--folder", str(folder)]) == 0
    return capsys.readouterr().err


def test_the_skip_list_is_printed_once_per_load_cached_or_not(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FICK_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "sounds"
    _messy_folder(folder)
    (folder / "notes.txt").write_text("not a sound")
    for _ in ("featurised", "from the cache"):
        err = _stats_stderr(capsys, folder)
        for name in ("corrupt.wav", "silent.wav", "notes.txt"):
            assert err.count(name) == 1, err
        assert "ignored" in err and "notes.txt: not audio" in err
