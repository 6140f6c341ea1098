"""``REF#NAME`` loads the companion network a model holds (e.g. a shipped VAE for a new model)."""

import pytest
import torch
from fick.domains.base import FickError
from fick.pipelines import modelio


def test_companion_reference_is_the_held_network():
    parent = modelio.load("spoken-digits")
    vae = modelio.load("spoken-digits#autoencoder")
    assert vae.task_name == "autoencoder" and vae.source == "spoken-digits#autoencoder"
    held = parent.task.autoencoder.state_dict()
    got = vae.task.state_dict()
    assert held.keys() == got.keys()
    assert all(torch.equal(held[k], got[k]) for k in held)
    assert vae.info["mel"] == parent.info["mel"]  # the same front end as the holder's


def test_unknown_companion_names_the_ones_held():
    with pytest.raises(FickError, match="holds no companion 'vae'.*autoencoder, classifier"):
        modelio.load("spoken-digits#vae")
