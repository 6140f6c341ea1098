"""Mel front end and its Griffin-Lim inverse; VAE and denoiser shapes for several durations."""

import math

import pytest
import torch
from fick.domains.audio.denoisers import LatentDiT, LatentUNet
from fick.domains.audio.features import MelFrontEnd
from fick.domains.audio.vae import SpectrogramVAE
from fick.domains.audio.vocoder import VocosVocoder


def _harmonic(seconds, rate=16000, f0=220.0):
    t = torch.arange(int(seconds * rate)) / rate
    env = torch.sin(math.pi * t / seconds).clamp(min=0)  # a swell, so frames differ
    return (
        sum(0.2 / k * torch.sin(2 * math.pi * k * f0 * (1 + 0.1 * t) * t) for k in (1, 2, 3)) * env
    )


def _slaney_mel(f):  # Slaney's mel scale, written out independently of torchaudio
    f = torch.as_tensor(f, dtype=torch.float64)
    f_sp, min_log_hz, logstep = 200.0 / 3, 1000.0, math.log(6.4) / 27.0
    return torch.where(f < min_log_hz, f / f_sp, 15.0 + torch.log(f / min_log_hz) / logstep)


def test_a_sine_lights_the_mel_band_centred_on_its_frequency():
    front = MelFrontEnd()
    t = torch.arange(16000) / 16000
    mel = front.log_mel(0.5 * torch.sin(2 * math.pi * 2000 * t))
    band = int(mel[:, 10:-10].mean(-1).argmax())
    # 64 bands between 0 and 8 kHz: centres equally spaced on the Slaney mel scale.
    centres = torch.linspace(0, float(_slaney_mel(8000.0)), 66)[1:-1]
    assert band == int((centres - _slaney_mel(2000.0)).abs().argmin())


@pytest.mark.parametrize("seconds", [0.5, 1.0, 1.37])
def test_mel_to_griffin_lim_round_trip(seconds):
    front = MelFrontEnd()
    audio = _harmonic(seconds)
    frames = int(seconds * 16000) // 160
    audio = audio[: frames * 160]
    log_mel = front.log_mel(audio[None])
    assert log_mel.shape == (1, 64, frames)
    back = front.griffin_lim(log_mel)
    assert back.shape == (1, frames * 160)
    loud = log_mel > log_mel.max() - 6  # compare where there is energy (within 6 nepers)

    def error(audio):
        return (front.log_mel(audio) - log_mel).abs()[loud].mean()

    # Phase retrieval must beat the zero-phase inverse (one iteration) by far, and the result
    # must be much closer to the original than the original is to itself shifted in time.
    scrambled = (log_mel.roll(frames // 3, dims=-1) - log_mel).abs()[loud].mean()
    assert error(back) < 0.7 and error(back) < scrambled / 3
    assert error(back) < 0.6 * error(front.griffin_lim(log_mel, n_iter=1))


def test_normalisation_round_trip():
    front = MelFrontEnd(mean=-5.0, std=2.0)
    x = torch.randn(2, 64, 10)
    assert torch.allclose(front.normalize(front.denormalize(x)), x, atol=1e-6)


@pytest.mark.parametrize("frames", [100, 37, 250])
def test_vae_shapes_for_several_durations(frames):
    vae = SpectrogramVAE(64, channels=8, channel_mult=(1, 2, 2), latent_channels=4)
    mean, logvar = vae.encode(torch.randn(2, 64, frames))
    assert mean.shape == logvar.shape == (2, 4, 16, math.ceil(frames / 4))
    assert vae.decode(mean, frames).shape == (2, 64, frames)
    recon, _, _ = vae(torch.randn(2, 64, frames))
    assert recon.shape == (2, 64, frames)


@pytest.mark.parametrize("net", ["unet", "dit"])
def test_denoisers_are_length_agnostic_and_causally_local_in_label(net):
    torch.manual_seed(0)
    model = (
        LatentUNet(4, 10, channels=16, channel_mult=(1, 2))
        if net == "unet"
        else LatentDiT(4, 10, width=32, depth=2, heads=2, patch_size=(2, 1))
    )
    for p in model.parameters():  # undo the zero initialisation so outputs depend on inputs
        torch.nn.init.normal_(p, std=0.05)
    for frames in (7, 25, 50):
        x = torch.randn(2, 4, 16, frames)
        y = model(x, torch.tensor([10.0, 500.0]), torch.tensor([3, 10]))
        assert y.shape == x.shape and torch.isfinite(y).all()
    x = torch.randn(1, 4, 16, 25)
    t = torch.tensor([100.0])
    assert not torch.allclose(model(x, t, torch.tensor([1])), model(x, t, torch.tensor([2])))


def test_vocoder_output_length():
    voc = VocosVocoder(64, 160, 640, dim=16, layers=1)
    assert voc(torch.randn(2, 64, 37)).shape == (2, 37 * 160)
