"""Every shipped generative model gives, for a seed, the samples it gave before a refactor.

The reference file was recorded from the code as it was before the diffusion machinery of the
domains moved into one shared task (issue 11). A refactor that changes the math (a time
convention, a scale, the order random numbers are drawn in) fails here. Record anew only for a
deliberate change of the samples, and say so in the commit:

    OMP_NUM_THREADS=1 FICK_RECORD_REFERENCE=1 \
        python -m pytest tests/pipelines/test_reference_outputs.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from fick.pipelines import modelio

REFERENCE = Path(__file__).with_name("reference_outputs.pt")

# model -> sample() keyword arguments; few steps keep it quick, the math is the same at any
CASES = {
    "digits": {"condition": {"label": 3}},
    "moving-digits": {},
    "spoken-digits": {"condition": {"label": 3}},
    "qm9": {},
}


def _draw(name: str) -> dict[str, torch.Tensor]:
    """The tensors of two samples of ``name`` at 4 steps, seed 0."""
    task = modelio.load(name).task
    samples = task.sample(2, steps=4, generator=torch.Generator().manual_seed(0), **CASES[name])
    out: dict[str, torch.Tensor] = {}
    for i, s in enumerate(samples):
        if hasattr(s, "image"):
            out[f"{i}.image"] = s.image
        elif hasattr(s, "frames"):
            out[f"{i}.frames"] = s.frames
        elif hasattr(s, "audio"):
            out[f"{i}.audio"] = s.audio
        else:  # a molecule record
            for key in ("pos", "atom_type", "charge", "bond_index", "bond_type"):
                out[f"{i}.{key}"] = s[key]
    return {k: v.detach().cpu().clone() for k, v in out.items()}


@pytest.fixture(scope="module")
def reference():
    if os.environ.get("FICK_RECORD_REFERENCE") == "1":
        torch.save({name: _draw(name) for name in CASES}, REFERENCE)
    return torch.load(REFERENCE, weights_only=True)


@pytest.mark.parametrize("name", list(CASES))
def test_shipped_model_gives_its_reference_samples(name, reference):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the reference was recorded on one thread
    try:
        got = _draw(name)
    finally:
        torch.set_num_threads(threads)
    want = reference[name]
    assert sorted(got) == sorted(want)
    for key, value in want.items():
        if value.is_floating_point():
            torch.testing.assert_close(got[key], value, rtol=0, atol=1e-5, msg=f"{name} {key}")
        else:
            assert torch.equal(got[key], value), f"{name} {key} differs"
