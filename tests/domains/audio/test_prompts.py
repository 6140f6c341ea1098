"""Text prompts: the word-piece tokenizer, captions of the synthesised set (and their upgrade of
an old manifest), the caption column of a CSV manifest with missing / empty captions reported,
the null context of CFG, the guidance interval, and a tiny prompted model through the CLI."""

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from fick.domains.audio import plugin
from fick.domains.audio.audio_io import write_wav
from fick.domains.audio.config import AudioDataConfig, DiffusionConfig
from fick.domains.audio.diffusion_task import LatentDiffusionTask
from fick.domains.audio.spoken_digits import (
    DIGITS,
    add_captions,
    caption,
    caption_parts,
    generate_spoken_digits,
    heldout_combinations,
)
from fick.domains.audio.text import UNK, WordPieceTokenizer, caption_vocabulary
from fick.domains.base import FickError
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[3]


def test_tokenizer_is_built_from_captions_and_splits_unseen_words():
    vocab = caption_vocabulary(["seven, spoken slowly", "three, spoken fast", ""])
    assert vocab[:2] == [",", "spoken"] and set(vocab) == {
        "seven",
        "spoken",
        "slowly",
        "three",
        ",",
        "fast",
    }
    tok = WordPieceTokenizer(vocab)
    ids = tok.encode("Three, FAST")
    assert [tok.pieces[i] for i in ids] == ["[CLS]", "three", ",", "fast"]
    # an unseen word becomes the longest known pieces, then characters: never one [UNK]
    pieces = [tok.pieces[i] for i in tok.encode("slowest")[1:]]
    assert pieces[0] == "slow" or pieces[0] == "s"
    assert "".join(p.removeprefix("##") for p in pieces) == "slowest"
    assert tok.pieces[tok.encode("zq")[1]] == UNK  # 'z', 'q' never seen
    batch = tok.batch(["three", "seven, spoken slowly"], max_tokens=3)
    assert batch.shape == (2, 3) and batch[0, 2] == 0  # padded with [PAD]


def test_captions_describe_the_synthesis_and_hold_out_ten_combinations():
    text = caption("seven", 130, 20, "en-gb-scotland")
    assert text == "seven, spoken slowly in a low voice with a Scottish accent"
    assert caption_parts(text) == ("seven", 0, 0)
    assert caption_parts("a dog barking") is None
    held = heldout_combinations()
    assert len(held) == 10 and {w for w, _, _ in held} == set(DIGITS)
    assert {s for _, s, _ in held} == {0, 1, 2} and {p for _, _, p in held} == {0, 1, 2}


@pytest.mark.slow
def test_old_manifest_gets_the_captions_synthesis_would_write(tmp_path):
    manifest = generate_spoken_digits(tmp_path, per_class=2, seed=3)
    with manifest.open() as f:
        rows = list(csv.reader(f))
    assert rows[0][-1] == "caption" and all(caption_parts(r[-1]) for r in rows[1:])
    with manifest.open("w", newline="") as f:  # as written before captions existed
        csv.writer(f).writerows(r[:-1] for r in rows)
    add_captions(tmp_path, per_class=2, seed=3)
    with manifest.open() as f:
        assert list(csv.reader(f)) == rows


def _tone(path, f0, seconds=0.5):
    t = np.arange(int(16000 * seconds)) / 16000
    write_wav(path, torch.tensor(0.3 * np.sin(2 * np.pi * f0 * t), dtype=torch.float32), 16000)


def test_manifest_caption_column_with_missing_and_empty_captions(tmp_path, capsys):
    for i in range(4):
        _tone(tmp_path / f"c{i}.wav", 200 + 50 * i)
    (tmp_path / "m.csv").write_text(
        "path,label,caption\n"
        "c0.wav,a,a low hum\n"
        "c1.wav,b,\n"  # empty
        "c2.wav,a,a high whistle\n"
        "c3.wav,b\n"  # missing cell
    )
    cfg = AudioDataConfig(
        dataset="manifest", manifest=str(tmp_path / "m.csv"), duration=0.5,
        val_fraction=0.0, test_fraction=0.0, cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip
    bundle = plugin.build_data("diffusion", cfg, seed=0)
    err = capsys.readouterr().err
    assert "2 without a caption (missing or empty)" in err
    assert "no caption: " + str(tmp_path / "c1.wav") in err and "c3.wav" in err
    report = bundle.extras["load_report"]
    assert sorted(Path(p).name for p in report.uncaptioned) == ["c1.wav", "c3.wav"]
    by_name = {Path(n).name: c for n, c in zip(bundle.train.names, bundle.train.captions)}
    assert by_name == {
        "c0.wav": "a low hum",
        "c1.wav": "",
        "c2.wav": "a high whistle",
        "c3.wav": "",
    }
    batch = next(iter(DataLoader(bundle.train, batch_size=4)))
    assert sorted(batch["caption"]) == ["", "", "a high whistle", "a low hum"]
    assert set(bundle.info["caption_vocabulary"]) == {"a", "low", "hum", "high", "whistle"}
    # the prompted model trains on them: the empty ones as unconditional clips
    task = LatentDiffusionTask(_prompt_cfg(), bundle.info, None).train()
    loss, _ = task.loss(batch)
    assert torch.isfinite(loss)
    # and a dataset without any caption refuses prompt conditioning in one line
    info = {**bundle.info, "caption_vocabulary": []}
    with pytest.raises(FickError, match="no captions"):
        LatentDiffusionTask(_prompt_cfg(), info, None)


def _prompt_cfg(**kw):
    base = dict(
        autoencoder=None, conditioning="prompt", text_width=16, text_depth=1, text_heads=2,
        channels=8, channel_mult=[1], attention=False, steps=2,
    )  # fmt: skip
    return DiffusionConfig(**{**base, **kw})


def _info():
    from fick.domains.audio.features import MelSettings

    words = caption_vocabulary([caption("three", 230, 80, "en"), caption("seven", 130, 20, "en")])
    return {
        "mel": MelSettings(n_mels=32, hop_length=320).to_dict(), "mel_mean": -8.0,
        "mel_std": 3.0, "class_names": list(DIGITS), "duration": 0.2,
        "caption_vocabulary": words,
    }  # fmt: skip


def test_null_context_ignores_the_prompt_and_prompts_change_the_output():
    torch.manual_seed(0)
    task = LatentDiffusionTask(_prompt_cfg(), _info(), None).eval()
    for p in task.backbone.parameters():  # zero-initialised outputs would hide any difference
        torch.nn.init.normal_(p, std=0.1)
    x, t = torch.randn(2, 1, 32, 10), torch.tensor([500.0, 500.0])
    ids = task.prompts.ids(["three, spoken fast", "seven, spoken slowly"])
    null = torch.tensor([True, True])
    with torch.no_grad():
        cond = task.net(x, t, text_ids=ids)
        uncond = task.net(x, t, text_ids=ids, cfg_null=null)
        swapped = task.net(x, t, text_ids=ids.flip(0), cfg_null=null)
    assert not torch.allclose(cond[0], cond[1]) or not torch.allclose(cond, uncond)
    assert torch.allclose(uncond, swapped)  # the null context does not see the text
    clips = task.sample(3, condition={"prompt": "three, spoken fast|seven"}, steps=2)
    assert [c.label for c in clips] == ["three", "seven", "three"]
    assert clips[1].meta["prompt"] == "seven"


def test_guidance_interval_maps_to_model_time_and_is_checked():
    task = LatentDiffusionTask(_prompt_cfg(), _info(), None)
    assert task._model_interval("0.1-0.9") == pytest.approx((99.9, 899.1))
    assert task._model_interval([0.0, 1.0]) == pytest.approx((0.0, 999.0))
    for bad in ("0.9-0.1", "a-b", "0.5-1.5"):
        with pytest.raises(FickError, match="guidance_interval"):
            task._model_interval(bad)
    clips = task.sample(1, guidance=3.0, guidance_interval="0.2-0.8", steps=2)
    assert torch.isfinite(clips[0].audio).all()


@pytest.mark.slow
def test_tiny_prompted_model_trains_and_samples_from_a_prompt(tmp_path, fick_cli):
    fick = fick_cli
    fick("train", str(ROOT / "configs/audio/spoken-digits-prompts-tiny.yaml"),
         "--set", f"train.output_dir={tmp_path / 'out'}",
         "--set", "train.max_steps=20")  # fmt: skip
    (model,) = (tmp_path / "out").glob("*/*/model")
    fick("sample", str(model), "--condition", "prompt=three, fast, high voice", "-n", "2",
         "--steps", "3", "--out", str(tmp_path / "s"))  # fmt: skip
    wavs = sorted((tmp_path / "s").glob("*.wav"))
    assert len(wavs) == 2 and all("label-three" in w.name for w in wavs)
