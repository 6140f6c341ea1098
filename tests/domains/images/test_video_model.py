"""The video DiT (Latte-style), the video classifier and GIF export."""

import numpy as np
import pytest
import torch
from fick.domains.images.video import VideoSample, load_video_samples, write_video_samples
from fick.domains.images.video.export import frame_strip, save_gif
from fick.domains.images.video.video_classifier import VideoCNN
from fick.domains.images.video.video_dit import VideoDiT


def _dit(**kw):
    torch.manual_seed(0)
    args = dict(
        image_size=8, channels=2, frames=6, num_classes=3, patch_size=2, width=32, depth=2, heads=4
    )
    args.update(kw)
    return VideoDiT(**args)


def _perturb_adaln(net: torch.nn.Module) -> None:
    """Give the zero-initialised adaLN layers random values (as after some training)."""
    gen = torch.Generator().manual_seed(1)
    for name, p in net.named_parameters():
        if "modulation" in name or name.startswith("final.linear"):
            p.data = torch.randn(p.shape, generator=gen) * 0.1


def test_shapes_and_zero_output_at_init():
    net = _dit()
    x = torch.randn(3, 2, 6, 8, 8)
    out = net(x, torch.tensor([1.0, 500.0, 999.0]), torch.tensor([0, 2, 3]))
    assert out.shape == x.shape
    assert torch.count_nonzero(out) == 0  # adaLN-Zero: the final layer and every gate start at zero
    # every block is the identity at init: gates are zero, so only the final layer gets a gradient
    out = net(x, torch.tensor(5.0), torch.tensor([0, 1, 2]))
    out.sum().backward()
    assert (
        net.blocks[0].attn.qkv.weight.grad is None
        or net.blocks[0].attn.qkv.weight.grad.abs().max() == 0
    )
    assert net.final.linear.weight.grad.abs().max() > 0


def test_fewer_frames_than_the_model_covers():
    net = _dit()
    _perturb_adaln(net)
    assert net(
        torch.randn(2, 2, 4, 8, 8), torch.tensor([3.0, 4.0]), torch.tensor([0, 1])
    ).shape == (2, 2, 4, 8, 8)
    with pytest.raises(ValueError, match="longer"):
        net(torch.randn(1, 2, 7, 8, 8), torch.tensor([3.0]), torch.tensor([0]))


def test_spatial_blocks_stay_within_a_frame_and_temporal_blocks_mix_frames():
    net = _dit()
    _perturb_adaln(net)
    x = torch.randn(1, 2, 6, 8, 8)
    t, y = torch.tensor([10.0]), torch.tensor([1])
    base = net(x, t, y)
    x2 = x.clone()
    x2[:, :, 5] += 1.0  # change only the last frame
    changed = (net(x2, t, y) - base).abs().amax(dim=(0, 1, 3, 4))
    assert (changed[:5] > 1e-3).all()  # other frames see it: through temporal attention
    # without the temporal blocks, frames are independent (the image DiT applied per frame)
    spatial_only = _dit(depth=2)
    spatial_only.load_state_dict(net.state_dict())
    spatial_only.blocks = torch.nn.ModuleList(
        [b for i, b in enumerate(spatial_only.blocks) if i % 2 == 0]
    )
    spatial_only.forward = _forward_spatial_only.__get__(spatial_only)
    d = (spatial_only(x2, t, y) - spatial_only(x, t, y)).abs().amax(dim=(0, 1, 3, 4))
    assert d[:5].max() == 0 and d[5] > 0


def _forward_spatial_only(self, x, t, labels):
    from fick.domains.images.dit import unpatchify

    b, c, frames, h, w = x.shape
    tokens = self.patch_embed(x.transpose(1, 2).reshape(b * frames, c, h, w)) + self.pos_embed
    cond = (self.time_embed(t.expand(b)) + self.label_embed(labels)).repeat_interleave(frames, 0)
    for block in self.blocks:
        tokens = block(tokens, cond)
    return (
        unpatchify(self.final(tokens, cond), c, self.patch_size, h, w)
        .reshape(b, frames, c, h, w)
        .transpose(1, 2)
    )


def test_temporal_position_embedding_breaks_frame_permutation_symmetry():
    net = _dit()
    _perturb_adaln(net)
    x = torch.randn(1, 2, 6, 8, 8)
    perm = torch.tensor([5, 4, 3, 2, 1, 0])
    t, y = torch.tensor([10.0]), torch.tensor([1])
    out_perm = net(x[:, :, perm], t, y)
    assert (out_perm - net(x, t, y)[:, :, perm]).abs().max() > 1e-3
    net.time_pos_embed.zero_()  # without it, attention over frames is permutation-equivariant
    torch.testing.assert_close(
        net(x[:, :, perm], t, y), net(x, t, y)[:, :, perm], atol=1e-5, rtol=1e-5
    )


def test_video_classifier_shapes():
    net = VideoCNN(1, 10, (8, 16), feature_dim=12)
    x = torch.randn(3, 1, 16, 32, 32)
    assert net.features(x).shape == (3, 12) and net(x).shape == (3, 10)


def test_gif_round_trip_is_exact_for_8_bit_frames(tmp_path):
    gen = torch.Generator().manual_seed(0)
    grey = torch.randint(0, 256, (5, 1, 12, 10), generator=gen).float() / 127.5 - 1.0
    rgb = torch.randint(0, 256, (4, 3, 8, 8), generator=gen).float() / 127.5 - 1.0
    rgb[:, :, :, :] = rgb[:1, :, :, :1]  # few colours so the palette holds them all
    samples = [VideoSample(grey, 3), VideoSample(grey.flip(0), None)]
    files = write_video_samples(samples, tmp_path / "out", mp4=False)
    assert [f.name for f in files] == [
        "sample_strip.png",
        "sample_0000_label3.gif",
        "sample_0001.gif",
    ]
    back = load_video_samples(tmp_path / "out")
    assert [s.label for s in back] == [3, None]
    for a, b in zip(samples, back):
        torch.testing.assert_close(b.frames, a.frames, atol=1e-6, rtol=0)
    save_gif(rgb, tmp_path / "rgb.gif")
    torch.testing.assert_close(
        load_video_samples(tmp_path / "rgb.gif")[0].frames, rgb, atol=1e-6, rtol=0
    )


def test_frame_strip_layout():
    frames = torch.linspace(-1, 1, 4).reshape(4, 1, 1, 1).expand(4, 1, 3, 3)
    strip = frame_strip([VideoSample(frames), VideoSample(-frames)], padding=1)
    assert strip.shape == (2 * 4 + 1, 4 * 4 + 1)
    assert strip[1, 1] == 0 and strip[1, 13] == 255 and strip[5, 1] == 255
    assert np.all(strip[0] == 0)


def test_mp4_export_when_ffmpeg_is_installed(tmp_path):
    frames = torch.full((6, 1, 32, 32), -1.0)
    for t in range(6):
        frames[t, 0, 8:24, 4 * t : 4 * t + 8] = 1.0
    files = write_video_samples([VideoSample(frames, 1)], tmp_path, prefix="clip")
    mp4 = tmp_path / "clip_0000_label1.mp4"
    assert mp4 in files
    back = load_video_samples(mp4)[0].frames  # 64x64 (upscaled for viewing), lossy H.264
    assert back.shape == (6, 3, 64, 64)
    bright = back.mean(1)[:, 32].numpy()
    assert [int(np.argmax(np.convolve(c, np.ones(16), "valid"))) for c in bright] == [
        0,
        8,
        16,
        24,
        32,
        40,
    ]
