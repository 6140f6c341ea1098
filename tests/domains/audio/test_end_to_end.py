"""`fick train configs/audio/spoken-digits-tiny.yaml`, then `fick sample` and `fick evaluate`
on the saved model, through the real CLI in a subprocess."""

from pathlib import Path

import pytest
import soundfile

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_train_tiny_then_sample_and_evaluate(tmp_path, fick_cli):
    fick = fick_cli
    fick(
        "train",
        str(ROOT / "configs/audio/spoken-digits-tiny.yaml"),
        "--set",
        f"train.output_dir={tmp_path / 'outputs'}",
        "--set",
        "train.max_steps=30",
        "--set",
        "train.val_every_n_steps=30",
        "--set",
        "train.checkpoint_every_n_steps=30",
    )
    models = list((tmp_path / "outputs").glob("*/*/model"))
    assert len(models) == 1 and (models[0] / "model.safetensors").is_file()
    fick(
        "sample",
        str(models[0]),
        "--condition",
        "label=7",
        "-n",
        "2",
        "--steps",
        "3",
        "--out",
        str(tmp_path / "samples"),
    )
    wavs = sorted((tmp_path / "samples").glob("*.wav"))
    assert len(wavs) == 2 and all("label-seven" in w.name for w in wavs)
    assert len(list((tmp_path / "samples").glob("*.png"))) == 2
    info = soundfile.info(str(wavs[0]))
    assert (info.samplerate, info.channels, info.frames) == (16000, 1, 16000)
    out = fick("evaluate", str(tmp_path / "samples"), "--no-track")
    assert "mel_fd" in out.stdout + out.stderr
