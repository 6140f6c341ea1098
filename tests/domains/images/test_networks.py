"""DiT building blocks (adaLN-Zero identity at init, zero output, sin-cos embeddings against the
closed form), and the shapes of the DiT, U-Net and VAE."""

import numpy as np
import pytest
import torch
from fick.domains.images.dit import DiT, unpatchify
from fick.domains.images.dit_blocks import AdaLNZeroBlock
from fick.domains.images.embeddings import LabelEmbedder, PatchEmbed, sincos_embedding_2d
from fick.domains.images.unet import UNet
from fick.domains.images.vae import KLVAE


def test_adaln_zero_block_is_identity_at_init():
    torch.manual_seed(0)
    block = AdaLNZeroBlock(32, 4)
    x, c = torch.randn(3, 10, 32), torch.randn(3, 32)
    assert torch.equal(block(x, c), x)
    # once the modulation is non-zero the block is no longer the identity (the check can fail)
    torch.nn.init.normal_(block.modulation[-1].weight)
    assert not torch.allclose(block(x, c), x)


def test_dit_output_is_zero_at_init_and_depends_on_label_after_training_signal():
    torch.manual_seed(0)
    net = DiT(16, 1, num_classes=10, patch_size=2, width=32, depth=2, heads=4)
    x, t, y = torch.randn(5, 1, 16, 16), torch.rand(5) * 999, torch.randint(0, 11, (5,))
    out = net(x, t, y)
    assert out.shape == x.shape and torch.count_nonzero(out) == 0
    # one gradient step moves the zero-initialised layers away from zero
    out = net(x, t, y)
    (out - x).pow(2).mean().backward()
    assert net.final.linear.weight.grad.abs().sum() > 0


def test_sincos_2d_matches_the_closed_form():
    dim, h, w = 16, 3, 4
    emb = sincos_embedding_2d(dim, h, w).numpy()
    omega = 1.0 / 10000 ** (np.arange(dim // 4) / (dim // 4))
    for i in range(h):
        for j in range(w):
            row = np.concatenate(
                [np.sin(i * omega), np.cos(i * omega), np.sin(j * omega), np.cos(j * omega)]
            )
            np.testing.assert_allclose(emb[i * w + j], row, rtol=1e-6, atol=1e-6)


def test_patchify_then_unpatchify_is_the_identity():
    x = torch.randn(2, 3, 8, 12)
    p = 2
    embed = PatchEmbed(3, 3 * p * p, p)
    # a convolution that copies each patch's pixels into channels, in unpatchify's (p, p, C) order
    with torch.no_grad():
        embed.proj.weight.zero_()
        embed.proj.bias.zero_()
        for dy in range(p):
            for dx in range(p):
                for c in range(3):
                    embed.proj.weight[(dy * p + dx) * 3 + c, c, dy, dx] = 1.0
    assert torch.allclose(unpatchify(embed(x), 3, p, 8, 12), x)


def test_cfg_null_selects_the_null_class():
    emb = LabelEmbedder(10, 8)
    labels = torch.tensor([1, 2, 3])
    null = torch.tensor([False, True, False])
    out = emb(labels, null)
    assert torch.equal(out[1], emb.table.weight[10]) and torch.equal(out[0], emb.table.weight[1])
    assert torch.equal(emb(labels), emb.table.weight[labels])


@pytest.mark.parametrize("size,levels", [(16, (16, 32)), (32, (16, 32, 32))])
def test_unet_shapes_and_zero_output(size, levels):
    net = UNet(size, 3, num_classes=4, channels_per_level=levels, blocks_per_level=1)
    x = torch.randn(2, 3, size, size)
    out = net(x, torch.tensor([3.0, 500.0]), torch.tensor([0, 4]))
    assert out.shape == x.shape and torch.count_nonzero(out) == 0


@pytest.mark.parametrize("downsample", [2, 4])
def test_vae_shapes(downsample):
    vae = KLVAE(channels=1, latent_channels=3, downsample=downsample, width=8)
    x = torch.randn(2, 1, 16, 16)
    mean, logvar = vae.encode(x)
    assert mean.shape == logvar.shape == (2, 3, 16 // downsample, 16 // downsample)
    recon, _, _ = vae(x)
    assert recon.shape == x.shape
    with pytest.raises(ValueError):
        KLVAE(1, downsample=3)
