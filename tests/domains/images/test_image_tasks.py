"""The three image tasks: training reduces the loss, saved_config rebuilds a self-contained
model (companion networks embedded), sampling follows the requested labels, metrics behave."""

import argparse

import pytest
import torch
from fick.domains.base import FickError
from fick.domains.images import plugin
from fick.domains.images.config import ImageDataConfig
from fick.domains.images.export import ImageSample


@pytest.fixture(scope="module")
def digits():
    return plugin.build_data("diffusion", ImageDataConfig(image_size=16), seed=0)


def _fixed_loss(task, batch, seed=0):
    torch.manual_seed(seed)  # same t, noise and condition dropout before and after training
    with torch.no_grad():
        return float(task.loss(batch)[0])


def _train(task, batch, steps, lr):
    opt = torch.optim.Adam([p for p in task.parameters() if p.requires_grad], lr)
    for _ in range(steps):
        loss, _ = task.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()


TINY_DIT = {
    "network": "dit",
    "patch_size": 4,
    "width": 32,
    "depth": 2,
    "heads": 2,
    "prediction": "v",
}


@pytest.mark.parametrize(
    "task_name,cfg,lr",
    [
        ("diffusion", TINY_DIT, 3e-3),
        ("diffusion", {"network": "unet", "unet_channels": [8, 16], "prediction": "epsilon"}, 3e-3),
        ("classifier", {"widths": [8, 16], "feature_dim": 16}, 3e-3),
        ("autoencoder", {"width": 8, "latent_channels": 2}, 3e-3),
    ],
)
def test_a_few_steps_reduce_the_loss(digits, task_name, cfg, lr):
    torch.manual_seed(0)
    task = plugin.build_task(task_name, cfg, digits.info, None)
    batch = (digits.train.images[:64], digits.train.labels[:64])
    before = _fixed_loss(task, batch)
    _train(task, batch, 25, lr)
    assert _fixed_loss(task, batch) < 0.8 * before


def _resolver(digits):
    torch.manual_seed(1)
    made = {
        "clf": plugin.build_task(
            "classifier", {"widths": [8, 16], "feature_dim": 16}, digits.info, None
        ),
        "vae": plugin.build_task(
            "autoencoder", {"width": 8, "latent_channels": 2, "downsample": 2}, digits.info, None
        ),
    }
    return lambda ref: made[ref]


def test_latent_model_is_self_contained_after_saving(digits):
    cfg = {**TINY_DIT, "patch_size": 2, "vae": "vae", "metrics_classifier": "clf"}
    task = plugin.build_task("diffusion", cfg, digits.info, _resolver(digits))
    assert task.state_shape == (2, 8, 8)
    batch = (digits.train.images[:32], digits.train.labels[:32])
    _train(task, batch, 2, 1e-3)  # sets the latent scale and moves the weights off zero
    assert float(task.latent_scale) > 0
    # only the denoiser trains; companions are frozen
    assert all(not p.requires_grad for p in task.autoencoder.parameters())
    saved = task.saved_config()
    assert (
        saved["vae"]["config"]["latent_channels"] == 2
        and saved["metrics_classifier"]["info"]["num_classes"] == 10
    )
    rebuilt = plugin.build_task("diffusion", saved, digits.info, None)  # no resolver needed
    rebuilt.load_state_dict(task.state_dict(), strict=True)
    a = task.sample(4, steps=3, generator=torch.Generator().manual_seed(0))
    b = rebuilt.sample(4, steps=3, generator=torch.Generator().manual_seed(0))
    assert a[0].image.shape == (1, 16, 16)
    assert all(torch.equal(x.image, y.image) for x, y in zip(a, b))


def test_sampling_labels_and_guidance(digits):
    torch.manual_seed(0)
    task = plugin.build_task("diffusion", TINY_DIT, digits.info, None)
    assert [s.label for s in task.sample(12, steps=2)] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert {s.label for s in task.sample(5, steps=2, condition={"label": 3})} == {3}
    assert [s.label for s in task.sample(4, steps=2, condition={"label": ["1", 2]})] == [1, 2, 1, 2]
    with pytest.raises(FickError, match="not a class"):
        task.sample(2, steps=2, condition={"label": 12})
    with pytest.raises(FickError, match="only condition"):
        task.sample(2, steps=2, condition={"colour": 1})
    _train(task, (digits.train.images[:32], digits.train.labels[:32]), 3, 3e-3)
    # guidance 1 is the conditional model; other scales change the result; same seed -> same draw
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    plain = task.sample(3, steps=4, guidance=1.0, generator=gen())
    again = task.sample(3, steps=4, guidance=1.0, generator=gen())
    guided = task.sample(3, steps=4, guidance=4.0, generator=gen())
    assert all(torch.equal(x.image, y.image) for x, y in zip(plain, again))
    assert not torch.allclose(plain[0].image, guided[0].image)
    assert all(s.image.min() >= -1 and s.image.max() <= 1 for s in guided)


def test_evaluate_real_images_gives_the_reference_row(digits):
    clf = _shipped("digits-classifier")
    cfg = {**TINY_DIT, "metrics_classifier": "clf"}
    task = plugin.build_task("diffusion", cfg, digits.info, lambda ref: clf)
    real = [ImageSample(x, int(y)) for x, y in zip(digits.val.images, digits.val.labels)]
    m = task.evaluate(real, digits)
    # the validation images against themselves: FID 0, accuracy and IS equal to the real row
    assert m["fid"] == pytest.approx(0.0, abs=1e-6)
    assert m["accuracy"] == pytest.approx(m["accuracy_real"]) and m["is"] == pytest.approx(
        m["is_real"]
    )
    assert m["accuracy"] > 0.95 and m["fid_real"] > 0
    noise = [ImageSample(torch.rand(1, 16, 16) * 2 - 1, i % 10) for i in range(100)]
    bad = task.evaluate(noise, digits)
    assert bad["fid"] > 10 * m["fid_real"] and bad["accuracy"] < 0.5
    # without data the model rebuilds the digits split from its info (offline evaluation)
    info_task = plugin.build_task(
        "diffusion", cfg, {**digits.info, "data": {"image_size": 16}}, lambda ref: clf
    )
    assert info_task.evaluate(real, None)["fid"] == pytest.approx(0.0, abs=1e-6)


def test_export_and_load_round_trip(tmp_path, digits):
    samples = [
        ImageSample(x, int(y)) for x, y in zip(digits.val.images[:12], digits.val.labels[:12])
    ]
    task = plugin.build_task("diffusion", TINY_DIT, digits.info, None)
    files = task.export(samples, tmp_path)
    assert (
        files[0].name == "sample_grid.png"
        and (tmp_path / f"sample_0007_label{samples[7].label}.png").is_file()
    )
    loaded = plugin.load_samples(tmp_path)
    assert [s.label for s in loaded] == [s.label for s in samples]
    for a, b in zip(loaded, samples):
        assert (a.image - b.image).abs().max() <= 1 / 127.5 + 1e-6  # 8-bit quantisation
    with pytest.raises(FickError, match="does not exist"):
        plugin.load_samples(tmp_path / "missing")


def test_data_commands_export_digits_then_read_them_as_a_folder(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    plugin.add_data_commands(parser)
    args = parser.parse_args(["export-digits", "--out", str(tmp_path / "png"), "--size", "16"])
    assert args.func(args) == 0
    args = parser.parse_args(["stats", "--folder", str(tmp_path / "png"), "--size", "16"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "1797" in out and "0:178" in out  # sklearn's digits have 178 zeros
    folder = plugin.build_data(
        "diffusion",
        ImageDataConfig(source="folder", root=str(tmp_path / "png"), channels=1, val_fraction=0.0),
        seed=0,
    )
    assert len(folder.train) == 1797 and folder.info["class_names"] == [str(i) for i in range(10)]


def _shipped(name: str):
    import yaml
    from safetensors.torch import load_model

    folder = plugin.pretrained()[name]
    manifest = yaml.safe_load((folder / "fick.yaml").read_text())
    task = plugin.build_task(manifest["task"], manifest["config"], manifest["info"], None)
    load_model(task, str(folder / "model.safetensors"), strict=True)
    return task.eval()


def test_shipped_digits_model_is_self_contained_and_follows_the_label():
    task = _shipped("digits")  # no resolver: the metric classifier is embedded
    asked = list(range(10)) * 2  # every class: a model that draws one digit well fails
    samples = task.sample(
        20, steps=10, condition={"label": asked}, generator=torch.Generator().manual_seed(0)
    )
    _, logits = task.metrics_classifier.features_and_logits(torch.stack([s.image for s in samples]))
    read = logits.argmax(1).tolist()
    assert sum(r == a for r, a in zip(read, asked)) >= 18, read  # measured: 20 of 20
