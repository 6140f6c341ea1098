"""Models on disk: safetensors + fick.yaml round trip, references, the plugin registry."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
import torch
import yaml
from fick.domains.base import FickError
from fick.pipelines import modelio, registry
from toy_plugin import ToyModel


def _toy_task(toy, **cfg):
    bundle = toy.build_data(
        "diffusion", __import__("toy_plugin").ToyData(n_train=16, n_val=4), seed=0
    )
    return toy.build_task("diffusion", ToyModel(**cfg), bundle.info, None), bundle


def test_round_trip_rebuilds_the_same_function(tmp_path, toy):
    task, bundle = _toy_task(toy, hidden=8)
    out = modelio.save_model(
        task,
        tmp_path / "m",
        domain="toy",
        task_name="diffusion",
        info=bundle.info,
        data={"n_train": 16},
    )
    manifest = yaml.safe_load((out / "fick.yaml").read_text())
    assert (
        manifest["domain"] == "toy"
        and manifest["config"]["hidden"] == 8
        and manifest["data"] == {"n_train": 16}
    )
    assert not list(out.glob("*.tmp"))
    loaded = modelio.load(out)
    assert not loaded.task.training and loaded.data == {"n_train": 16}
    x, t = torch.randn(5, 2), torch.tensor([3, 7, 11, 0, 49])
    torch.testing.assert_close(loaded.task(x, t), task(x, t))
    # the folder, either file, and a shipped name all resolve to it
    for ref in (out / "model.safetensors", out / "fick.yaml"):
        assert modelio.load(ref).config["hidden"] == 8
    toy.shipped = {"ring-small": out}
    assert modelio.pretrained_models()["ring-small"] == ("toy", out)
    assert modelio.load("ring-small").source == "ring-small"


def test_loading_never_unpickles(tmp_path, toy):
    task, bundle = _toy_task(toy)
    out = modelio.save_model(
        task, tmp_path / "m", domain="toy", task_name="diffusion", info=bundle.info
    )
    # a pickle where the weights should be is rejected, not executed
    torch.save(task.state_dict(), out / "model.safetensors")
    with pytest.raises(FickError, match="corrupt or unreadable"):
        modelio.load(out)


def test_weights_that_do_not_fit_the_manifest(tmp_path, toy):
    task, bundle = _toy_task(toy, hidden=8)
    out = modelio.save_model(
        task, tmp_path / "m", domain="toy", task_name="diffusion", info=bundle.info
    )
    manifest = yaml.safe_load((out / "fick.yaml").read_text())
    manifest["config"]["hidden"] = 16
    (out / "fick.yaml").write_text(yaml.safe_dump(manifest))
    with pytest.raises(FickError, match="do not fit the architecture"):
        modelio.load(out)
    (out / "fick.yaml").write_text("just: text")
    with pytest.raises(FickError, match="lacks domain"):
        modelio.load(out)


def test_registry_covers_every_entry_point(toy):
    declared = {ep.name for ep in entry_points(group=registry.ENTRY_POINT_GROUP)}
    assert declared <= set(registry.available()) | set(registry.broken())
    assert registry.get("toy") is toy
    with pytest.raises(FickError, match="unknown domain 'nope': known domains are .*toy"):
        registry.get("nope")
    with pytest.raises(FickError, match=r"^object is not a domain plugin: it lacks name \(a str\), "
                       r"tasks, config_types, .*, file_options, sample_suffixes"):
        registry.register(object())


def test_sampling_defaults_are_what_the_saved_config_says(load_shipped):
    from fick.domains.images import plugin as images

    task, folder = load_shipped(images, "digits")
    saved = yaml.safe_load((folder / "fick.yaml").read_text())["config"]
    expected = {k: saved[k] for k in ("steps", "sampler", "guidance")}
    assert modelio.sampling_defaults(task) == expected
    # asked-for values win; the rest are the model's, never None
    assert modelio.resolved_sampling(task, steps=7, guidance=0.0) == {
        **expected,
        "steps": 7,
        "guidance": 0.0,
    }
    classifier, _ = load_shipped(images, "digits-classifier")
    assert modelio.sampling_defaults(classifier) == {}
    assert modelio.resolved_sampling(classifier, steps=3) == {"steps": 3}
