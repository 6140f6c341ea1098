"""The audio tasks in process: data bundle, companions embedded in the diffusion model,
sampling at any duration, inpainting, evaluation keys, export and read-back."""

import numpy as np
import pytest
import soundfile
import torch
from fick.domains.audio import plugin
from fick.domains.audio.config import (
    AudioDataConfig,
    AutoencoderConfig,
    ClassifierConfig,
    DiffusionConfig,
    VocoderConfig,
)
from fick.domains.base import FickError
from fick.pipelines.modelio import model_config
from torch.utils.data import DataLoader

SMALL = dict(per_class=3, n_mels=32, hop_length=320)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    cache = tmp_path_factory.mktemp("audio-cache")
    return plugin.build_data("diffusion", AudioDataConfig(**SMALL, cache_dir=str(cache)), seed=0)


@pytest.fixture(scope="module")
def batch(bundle):
    return next(iter(DataLoader(bundle.train, batch_size=8, shuffle=False)))


@pytest.fixture(scope="module")
def companions(bundle):
    torch.manual_seed(0)
    return {
        "vae": plugin.build_task(
            "autoencoder", AutoencoderConfig(channels=4, channel_mult=[1, 2, 2]), bundle.info, None
        ),
        "voc": plugin.build_task(
            "vocoder", VocoderConfig(dim=16, layers=1, segment_frames=10), bundle.info, None
        ),
        "clf": plugin.build_task(
            "classifier", ClassifierConfig(channels=4, feature_dim=8), bundle.info, None
        ),
    }


def test_bundle_is_split_and_cached(bundle, tmp_path):
    assert bundle.info["class_names"] == sorted(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    )
    sizes = [len(bundle.train), len(bundle.val or []), len(bundle.test or [])]
    assert sum(sizes) == 30 and sizes[0] > 0
    item = bundle.train[0]
    assert item["audio"].shape == (16000,) and item["log_mel"].shape == (32, 50)
    again = plugin.build_data(
        "diffusion",
        AudioDataConfig(**SMALL, cache_dir=bundle.extras["cache"].rsplit("/audio/", 1)[0]),
        seed=0,
    )
    assert again.digest == bundle.digest and torch.equal(again.train.log_mel, bundle.train.log_mel)


@pytest.mark.parametrize("name", ["vae", "voc", "clf"])
def test_companion_losses_train(companions, batch, name):
    task = companions[name]
    task.train()
    opt = torch.optim.Adam(task.parameters(), lr=3e-3)
    torch.manual_seed(1)
    first = float(task.loss(batch)[0].detach())
    for _ in range(8):
        loss, logs = task.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    torch.manual_seed(1)
    assert float(task.loss(batch)[0].detach()) < first
    task.eval()
    metrics = task.validation_metrics(batch)
    assert all(np.isfinite(v) for v in metrics.values())


def _diffusion(bundle, companions, **kw):
    refs = {"vae": companions["vae"], "voc": companions["voc"], "clf": companions["clf"]}
    cfg = DiffusionConfig(
        autoencoder="vae", vocoder="voc", classifier="clf", channels=8, steps=2, **kw
    )
    return plugin.build_task("diffusion", cfg, bundle.info, refs.__getitem__)


def test_diffusion_embeds_its_companions(bundle, companions, batch):
    task = _diffusion(bundle, companions)
    task.zero_grad(set_to_none=True)
    task.train()
    assert not task.autoencoder.training  # companions stay in inference mode
    loss, _ = task.loss(batch)
    loss.backward()
    assert float(task.latent_scale) > 0
    assert all(p.grad is None for p in task.autoencoder.parameters())  # frozen
    saved = task.saved_config()
    assert saved["autoencoder"]["config"]["channels"] == 4  # embedded in place of the ref
    assert "autoencoder_config" not in saved
    rebuilt = plugin.build_task(  # no resolver needed
        "diffusion", model_config(plugin, "diffusion", saved), bundle.info, None
    )
    rebuilt.load_state_dict(task.state_dict(), strict=True)
    with pytest.raises(FickError):
        plugin.build_task(
            "diffusion", DiffusionConfig(autoencoder="vae"), bundle.info, None
        )


def test_sampling_any_duration_and_labels(bundle, companions):
    task = _diffusion(bundle, companions).eval()
    g = torch.Generator().manual_seed(0)
    clips = task.sample(3, condition={"label": 7}, generator=g, duration=0.62)
    assert [c.label for c in clips] == ["seven"] * 3
    assert all(c.audio.shape == (round(0.62 * 16000 / 320) * 320,) for c in clips)
    again = task.sample(
        3, condition={"label": "seven"}, generator=torch.Generator().manual_seed(0), duration=0.62
    )
    assert torch.equal(clips[0].audio, again[0].audio)  # seeded sampling is reproducible
    with pytest.raises(FickError):
        task.sample(1, condition={"label": "eleven"})
    metrics = task.evaluate(clips + task.sample(3), bundle)
    for key in (
        "real_time_factor",
        "mel_fd",
        "is",
        "mis",
        "am",
        "fid",
        "accuracy",
        "real_test/accuracy",
    ):
        assert np.isfinite(metrics[key]), key


def test_inpainting_holds_the_kept_range(bundle, tmp_path):
    cfg = DiffusionConfig(autoencoder=None, channels=8, steps=3, guidance=1.0)
    task = plugin.build_task("diffusion", cfg, bundle.info, None).eval()
    task.latent_scale.fill_(1.0)
    path = tmp_path / "given.wav"
    soundfile.write(str(path), bundle.test.audio[0].numpy(), 16000)
    log_mel, _ = task.sample_log_mels(
        {"label": torch.tensor([0, 1])},
        2,
        inpaint=str(path),
        keep="0-0.5",
        generator=torch.Generator().manual_seed(0),
    )
    written, _ = soundfile.read(str(path), dtype="float32")
    from fick.domains.audio.audio_io import condition_clip

    clip = condition_clip(
        torch.from_numpy(written)[None],
        16000,
        sample_rate=16000,
        num_samples=16000,
        target_dbfs=bundle.info["loudness_dbfs"],
    )
    given = task.front.log_mel(clip[None])[0]
    kept = 25  # 0.5 s at hop 320
    assert torch.allclose(log_mel[:, :, :kept], given[:, :kept].expand(2, -1, -1), atol=1e-4)
    assert not torch.allclose(log_mel[:, :, kept:], given[:, kept:].expand(2, -1, -1), atol=0.5)


def test_export_and_load_samples(bundle, companions, tmp_path):
    task = _diffusion(bundle, companions).eval()
    clips = task.sample(2, condition={"label": "three"})
    files = task.export(clips, tmp_path)
    assert sorted(f.suffix for f in files) == [".png", ".png", ".wav", ".wav"]
    back = plugin.load_samples(tmp_path)
    assert [c.label for c in back] == ["three", "three"]
    assert torch.allclose(back[0].audio, clips[0].audio.clamp(-1, 1), atol=1 / 32768 + 1e-6)
