"""The masking discrete flow against closed forms: marginals of the forward process, the
reverse chain's final law, the masked share at every level, and joint sampling with a
continuous component."""

from __future__ import annotations

import fick.core as fc
import pytest
import torch
from fick.core import schedules
from fick.core.discrete import MaskedCategoricalSpace, mask_corrupt, masking_step

P = torch.tensor([0.5, 0.3, 0.15, 0.05])


def test_forward_process_masks_with_probability_level():
    g = torch.Generator().manual_seed(0)
    cls = torch.randint(0, 4, (200_000,), generator=g)
    for level in (0.0, 0.25, 0.8, 1.0):
        noisy = mask_corrupt(cls, torch.tensor(level), 4, g)
        masked = (noisy == 4).float().mean().item()
        assert abs(masked - level) < 0.005
        kept = noisy != 4
        assert bool((noisy[kept] == cls[kept]).all())


@pytest.mark.parametrize("eta, steps", [(0.0, 10), (2.0, 400)])
def test_reverse_chain_reaches_the_model_law_with_the_level_as_masked_share(eta, steps):
    # A model whose clean-class law is P whatever the state: the reverse process of the
    # masking CTMC ends with every row drawn from P, and the masked share at level k is k;
    # exactly per step for eta = 0, up to the Euler step's error with re-masking (eta > 0).
    g = torch.Generator().manual_seed(1)
    rows = 100_000
    x = MaskedCategoricalSpace(4).noise(torch.zeros(rows, 4))
    probs = P.expand(rows, 4)
    levels = torch.linspace(1, 0, steps + 1).tolist()
    for k, k_next in zip(levels[:-1], levels[1:]):
        x = masking_step(x, probs, k, k_next, eta, g)
        share = x[:, -1].mean().item()
        assert abs(share - k_next) < 0.01
    counts = x[:, :4].sum(0) / rows
    assert x[:, -1].sum() == 0
    assert torch.allclose(counts, P, atol=0.006)


def test_joint_sampling_with_a_continuous_component_and_held_rows():
    # A flow over (pos: Gaussian, cls: masked categorical). The model predicts x0 = 0 for the
    # positions and P for the classes; rows 0..9 are held at class 2 by the mask.
    rows = 20_000
    steps_seen = []

    def model(x_t, t):
        assert x_t["cls"].shape == (rows, 5) and set(x_t) == {"pos", "cls"}
        return {"pos": torch.zeros_like(x_t["pos"]), "cls": P.expand(rows, 4)}

    spec = fc.StateSpec({"cls": MaskedCategoricalSpace(4)})
    noise = {"pos": torch.randn(rows, 3), "cls": spec.space("cls").noise(torch.zeros(rows, 4))}
    held = torch.zeros(rows, dtype=torch.bool)
    held[:10] = True
    known = {"cls": torch.nn.functional.one_hot(torch.full((rows,), 2), 4).float()}
    out = fc.sample(model, noise, schedules.flow(), sampler="ddpm", steps=8,
                    prediction="sample", spec=spec, generator=torch.Generator().manual_seed(2),
                    mask={"cls": held}, known=known,
                    callback=lambda i, n: steps_seen.append(i))
    assert steps_seen == list(range(1, 9))
    assert out["pos"].abs().max() < 1e-6  # the x0 = 0 model lands on 0
    cls = out["cls"].argmax(-1)
    assert bool((cls[:10] == 2).all()) and bool((cls < 4).all())
    freq = torch.bincount(cls[10:], minlength=4).float() / (rows - 10)
    assert torch.allclose(freq, P, atol=0.015)
