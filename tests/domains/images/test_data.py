"""Image data: digits shapes and range, the fixed split, folders (bad files skipped, missing
folder refused), and a digest that follows the content."""

import warnings

import numpy as np
import pytest
import torch
from fick.domains.base import FickError
from fick.domains.images import plugin
from fick.domains.images.config import ImageDataConfig
from fick.domains.images.data import build_image_data, split_indices
from PIL import Image


@pytest.mark.parametrize("size", [16, 32])
def test_digits_shapes_range_and_split(size):
    bundle = plugin.build_data("diffusion", ImageDataConfig(image_size=size), seed=0)
    assert len(bundle.train) + len(bundle.val) == 1797
    assert len(bundle.val) == round(0.2 * 1797)
    x, y = bundle.train[0]
    assert x.shape == (1, size, size) and isinstance(y, int)
    assert bundle.train.images.min() >= -1 and bundle.train.images.max() <= 1
    # background of the digits is 0 -> -1 after normalisation; strokes reach the top of the range
    assert float(bundle.train.images.amin(dim=(1, 2, 3)).max()) == pytest.approx(-1.0)
    assert bundle.train.images.amax() > 0.9
    assert bundle.info["class_names"] == [str(i) for i in range(10)]
    assert bundle.info["image_size"] == size and bundle.info["channels"] == 1
    # train and validation do not overlap and together are the whole set (sklearn's labels)
    from sklearn.datasets import load_digits

    all_labels = torch.cat([bundle.train.labels, bundle.val.labels]).sort().values
    assert torch.equal(all_labels, torch.from_numpy(np.sort(load_digits().target)))


@pytest.mark.parametrize(
    "mode,pil_mode", [("bilinear", Image.BILINEAR), ("bicubic", Image.BICUBIC)]
)
def test_upscaled_digits_match_pillow(mode, pil_mode):
    from sklearn.datasets import load_digits

    images = build_image_data(
        ImageDataConfig(image_size=16, resize=mode, val_fraction=0.0)
    ).train.images
    raw = load_digits().images[:40].astype(np.float32) / 16 * 2 - 1
    # Pillow's resize of the float image, clipped to [-1, 1] (bicubic overshoots)
    ref = np.stack([np.asarray(Image.fromarray(a).resize((16, 16), pil_mode)) for a in raw]).clip(
        -1, 1
    )
    np.testing.assert_allclose(images[:40, 0].numpy(), ref, atol=1e-5)


def test_split_is_fixed_by_the_split_seed_only():
    a = build_image_data(ImageDataConfig(split_seed=0))
    b = plugin.build_data("diffusion", ImageDataConfig(split_seed=0), seed=123)
    c = build_image_data(ImageDataConfig(split_seed=1))
    assert torch.equal(a.val.images, b.val.images) and a.digest == b.digest
    assert not torch.equal(a.val.labels, c.val.labels) and a.digest != c.digest
    train, val = split_indices(100, 0.25, 7)
    assert len(val) == 25 and set(train.tolist()) | set(val.tolist()) == set(range(100))
    assert not set(train.tolist()) & set(val.tolist())


def _folder(tmp_path):
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            arr = rng.integers(0, 256, (10, 12, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / cls / f"{i}.png")
    (root / "dog" / "broken.png").write_bytes(b"this is not a png")
    return root


def test_folder_rgb_and_grayscale_with_an_unreadable_image(tmp_path):
    root = _folder(tmp_path)
    with pytest.warns(UserWarning, match="broken.png"):
        bundle = build_image_data(
            ImageDataConfig(
                source="folder", root=str(root), image_size=8, channels=3, val_fraction=0.0
            )
        )
    assert len(bundle.train) == 6  # the broken file is skipped
    assert bundle.info["class_names"] == ["cat", "dog"] and bundle.info["channels"] == 3
    assert bundle.train.images.shape == (6, 3, 8, 8)
    assert sorted(bundle.train.labels.tolist()) == [0, 0, 0, 1, 1, 1]
    # the pixels are Pillow's resize of the file, mapped to [-1, 1]
    expected = np.asarray(
        Image.open(root / "cat" / "0.png").convert("RGB").resize((8, 8), Image.BILINEAR)
    )
    first = bundle.train.images[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose((first + 1) * 127.5, expected, atol=1e-3)
    assert bundle.extras["skipped"] and "broken.png" in bundle.extras["skipped"][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gray = build_image_data(
            ImageDataConfig(source="folder", root=str(root), image_size=8, channels=1)
        )
    assert gray.train.images.shape[1] == 1


def test_missing_folder_is_one_line_fick_error(tmp_path):
    with pytest.raises(FickError, match="does not exist") as err:
        build_image_data(ImageDataConfig(source="folder", root=str(tmp_path / "nope")))
    assert "\n" not in str(err.value)
    with pytest.raises(FickError, match="data.root"):
        build_image_data(ImageDataConfig(source="folder"))
    with pytest.raises(FickError, match="augmentation"):
        build_image_data(ImageDataConfig(augment=["rotate"]))


def test_augmentation_is_off_by_default_and_shift_keeps_shape():
    bundle = build_image_data(ImageDataConfig())
    assert torch.equal(bundle.train[3][0], bundle.train.images[3])
    aug = build_image_data(ImageDataConfig(augment=["shift"]))
    torch.manual_seed(0)
    shifted = [aug.train[3][0] for _ in range(20)]
    assert all(s.shape == (1, 16, 16) for s in shifted)
    assert any(not torch.equal(s, aug.train.images[3]) for s in shifted)
