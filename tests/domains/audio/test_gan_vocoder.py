"""The GAN vocoder: loss closed forms, the two-optimiser split under FickModule's one optimiser,
the generator warm-up, a companion without discriminators, and a tiny CLI training that
vocodes."""

from pathlib import Path

import pytest
import torch
from fick.domains.audio.config import VocoderConfig
from fick.domains.audio.discriminators import (
    MultiPeriodDiscriminator,
    MultiResolutionDiscriminator,
    discriminator_loss,
    feature_matching_loss,
    generator_adversarial_loss,
)
from fick.domains.audio.features import MelFrontEnd, MelSettings
from fick.domains.audio.vocoder_task import VocoderTask
from fick.domains.base import FickError

ROOT = Path(__file__).resolve().parents[3]
INFO = {"mel": MelSettings(n_mels=32, hop_length=320).to_dict(), "mel_mean": -8.0, "mel_std": 3.0}


def _batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    audio = 0.1 * torch.randn(n, 6400, generator=g)
    return {"audio": audio, "log_mel": MelFrontEnd(INFO["mel"]).log_mel(audio)}


def _task(**kw):
    cfg = dict(dim=16, layers=1, n_fft=1280, segment_frames=8, adversarial=True)
    return VocoderTask(VocoderConfig(**{**cfg, **kw}), INFO)


def test_gan_losses_match_closed_forms():
    real, fake = [torch.tensor([2.0, -0.5])], [torch.tensor([-2.0, 0.5])]
    # hinge: mean relu(1 - r) + mean relu(1 + f) = 0.75 + 0.75
    assert float(discriminator_loss(real, fake, "hinge")) == pytest.approx(1.5)
    # least squares: mean (1 - r)^2 + mean f^2 = (1 + 2.25) / 2 + (4 + 0.25) / 2
    assert float(discriminator_loss(real, fake, "lsgan")) == pytest.approx(3.75)
    # generator hinge: mean relu(1 - f) = (3 + 0.5) / 2
    assert float(generator_adversarial_loss(fake, "hinge")) == pytest.approx(1.75)
    assert float(generator_adversarial_loss(fake, "lsgan")) == pytest.approx((9 + 0.25) / 2)
    a, b = [[torch.ones(3), torch.zeros(2)]], [[torch.zeros(3), torch.zeros(2)]]
    assert float(feature_matching_loss(a, b)) == pytest.approx(0.5)


def test_discriminators_cover_every_period_and_resolution():
    audio = torch.randn(2, 3201)  # not a multiple of any period: padded, not dropped
    mpd = MultiPeriodDiscriminator((2, 3, 5, 7, 11), width=2)
    outs = mpd(audio)
    assert len(outs) == 5
    for (logits, feats), p in zip(outs, (2, 3, 5, 7, 11)):
        assert feats[0].shape[-1] == p and logits.shape[0] == 2
    mrd = MultiResolutionDiscriminator(((256, 64), (512, 128)), width=2)
    assert len(mrd(audio)) == 2


def test_discriminator_has_its_own_optimiser_and_generator_warm_up():
    torch.manual_seed(0)
    task = _task(adversarial_start=2)
    task.train()
    # FickModule's AdamW is built over the parameters that require grad: the generator only.
    trainable = {id(p) for p in task.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in task.net.parameters()}
    opt = torch.optim.AdamW([p for p in task.parameters() if p.requires_grad], lr=1e-3)
    d_before = [p.detach().clone() for p in task.mpd.parameters()]
    logs_seen = []
    for step in range(4):
        loss, logs = task.loss(_batch(seed=step))
        opt.zero_grad()
        loss.backward()
        # the generator's backward leaves nothing on the discriminators
        assert all(p.grad is None for p in task.mpd.parameters())
        opt.step()
        logs_seen.append(logs)
        if step < 2:  # warm-up: the discriminators are untouched
            assert all(torch.equal(a, b) for a, b in zip(d_before, task.mpd.parameters()))
    assert "adversarial" not in logs_seen[1] and "adversarial" in logs_seen[2]
    assert "discriminator" in logs_seen[3]
    assert any(not torch.equal(a, b) for a, b in zip(d_before, task.mpd.parameters()))
    assert int(task.gan_steps) == 4
    # validation (eval, no grad) neither steps the discriminators nor counts a step
    task.eval()
    d_now = [p.detach().clone() for p in task.mrd.parameters()]
    with torch.no_grad():
        task.loss(_batch(seed=9))
    assert int(task.gan_steps) == 4
    assert all(torch.equal(a, b) for a, b in zip(d_now, task.mrd.parameters()))


def test_companion_vocoder_keeps_no_discriminators():
    task = VocoderTask(
        VocoderConfig(dim=16, layers=1, n_fft=1280, adversarial=True), INFO, discriminators=False
    )
    assert not any(k.startswith(("mpd", "mrd", "gan_steps")) for k in task.state_dict())
    full = _task()
    full.drop_discriminators()
    assert set(full.state_dict()) == set(task.state_dict())


def test_bad_gan_loss_is_one_line_error():
    with pytest.raises(FickError, match="gan_loss"):
        _task(gan_loss="wasserstein")


@pytest.mark.slow
def test_tiny_gan_vocoder_trains_and_vocodes(tmp_path, fick_cli):
    fick_cli("train", ROOT / "configs/audio/vocoder-tiny.yaml",
             "--set", f"train.output_dir={tmp_path / 'outputs'}")  # fmt: skip
    models = list((tmp_path / "outputs").glob("*/*/model"))
    assert len(models) == 1
    from fick.pipelines import modelio

    task = modelio.load(str(models[0])).task
    assert task.kind == "vocoder" and int(task.gan_steps) == 20
    batch = _batch(n=2)
    with torch.no_grad():
        audio = task.vocode(batch["log_mel"])
    assert audio.shape == (2, 6400) and torch.isfinite(audio).all()


def test_sampling_option_chooses_the_vocoder():
    from fick.domains.audio.config import DiffusionConfig
    from fick.domains.audio.diffusion_task import LatentDiffusionTask

    torch.manual_seed(0)
    voc = _task()
    info = {**INFO, "class_names": ["a", "b"], "duration": 0.2}
    cfg = DiffusionConfig(
        autoencoder=None, vocoder="voc", channels=8, channel_mult=[1], attention=False, steps=1
    )
    task = LatentDiffusionTask(cfg, info, {"voc": voc}.__getitem__).eval()
    assert task.vocoder.mpd is None  # the companion left its discriminators behind
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    neural = task.sample(1, generator=g(), vocoder="neural")[0].audio
    default = task.sample(1, generator=g())[0].audio
    griffin = task.sample(1, generator=g(), vocoder="griffin-lim")[0].audio
    assert torch.equal(neural, default) and not torch.allclose(neural, griffin)
    with pytest.raises(FickError, match="vocoder=griffin-lim or neural"):
        task.sample(1, vocoder="hifigan")
    task.vocoder = None
    with pytest.raises(FickError, match="no neural vocoder"):
        task.sample(1, vocoder="neural")
