"""MOSES3D as a dataset: the prepared shards as train / validation / test, and a config's bundle.

A config names it ``data: {dataset: moses3d}`` (seed-0 preparation in the cache;
``data.cache_dir`` moves the cache as for QM9), ``moses3d-seed3`` (another seed's subset) or
``moses3d:/path`` (a folder given to ``prepare-moses3d --out``); ``data.limit`` takes the first N
training molecules. Validation is a held-out slice of the prepared train subset: every
``HELD_OUT_EVERY``-th position of the permutation. It depends on the position only, so a
molecule stays in its part when the preparation grows. The prepared MOSES test split (when
there is one) is the bundle's test set, the reference for novelty, FCD and scaffolds.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from fick.domains.base import DataBundle, FickError

from .moses3d import MOSES3D_ELEMENTS, MOSES3D_PROPERTIES, MOSES3D_UNITS
from .moses3d_shards import default_root, load_prepared, split_folder
from .records import MoleculeDataset, collate

__all__ = ["HELD_OUT_EVERY", "build_moses3d_data", "is_moses3d", "load_moses3d",
           "load_named_moses3d", "moses3d_parts"]

HELD_OUT_EVERY = 20  # positions p with p % 20 == 19 are validation (5%)
_NAME = re.compile(r"^moses3d(?:-seed(\d+))?(?::(.+))?$", re.IGNORECASE)


def is_moses3d(name: str) -> bool:
    """Does ``name`` mean MOSES3D? Every name starting with "moses3d" does (the importer refuses
    them), so a mistyped one (``moses3d-sed1``) gets MOSES3D's error, not an imported dataset's."""
    return name.strip().lower().startswith("moses3d")


def _parse(name: str, cache_dir: Path | None = None) -> tuple[int, Path]:
    """(seed, root folder) of ``moses3d``, ``moses3d-seedS`` or ``moses3d[-seedS]:ROOT``."""
    match = _NAME.match(name)
    if match is None:
        raise FickError(f"{name!r} is not a MOSES3D name: use moses3d, moses3d-seedS or "
                        "moses3d:FOLDER")
    seed = int(match.group(1) or 0)
    return seed, Path(match.group(2)).expanduser() if match.group(2) else default_root(cache_dir)


def load_moses3d(split: str = "train", *, seed: int = 0, root: Path | None = None
                 ) -> tuple[MoleculeDataset, dict[str, Any]]:
    """The prepared molecules of one MOSES split (all contiguous shards) and their extras."""
    folder = split_folder(split, seed, root)
    loaded = load_prepared(folder)
    if loaded is None:
        out = "" if root is None or root == default_root() else f" --out {root}"
        raise FickError(f"MOSES3D {split} (seed {seed}) is not prepared in {folder}: run fick "
                        f"data molecules prepare-moses3d --split {split} --seed {seed}{out}")
    packed, extra = loaded
    extra["units"] = MOSES3D_UNITS
    ds = MoleculeDataset(packed, elements=MOSES3D_ELEMENTS, properties=MOSES3D_PROPERTIES,
                         name=f"moses3d-{split}")
    return ds, extra


def moses3d_parts(seed: int = 0, root: Path | None = None
                  ) -> tuple[dict[str, MoleculeDataset | None], dict[str, Any]]:
    """train / valid (held-out slice of the prepared train subset) / test (prepared test split,
    None if not prepared), and the train split's extras."""
    full, extra = load_moses3d("train", seed=seed, root=root)
    held_out = extra["position"] % HELD_OUT_EVERY == HELD_OUT_EVERY - 1
    parts: dict[str, MoleculeDataset | None] = {
        "train": full.subset(torch.nonzero(~held_out).flatten()),
        "valid": full.subset(torch.nonzero(held_out).flatten()),
        "test": None,
    }
    if load_prepared(split_folder("test", seed, root)) is not None:
        parts["test"] = load_moses3d("test", seed=seed, root=root)[0]
    return parts, extra


def load_named_moses3d(name: str, split: str = "all", cache_dir: Path | None = None
                       ) -> tuple[MoleculeDataset, dict[str, Any]]:
    """For ``fick data molecules stats / export-split``: all (the whole prepared train subset),
    train, valid, test or test_scaffolds."""
    seed, root = _parse(name, cache_dir)
    if split in ("test", "test_scaffolds"):
        return load_moses3d(split, seed=seed, root=root)
    if split == "all":
        return load_moses3d("train", seed=seed, root=root)
    parts, extra = moses3d_parts(seed, root)
    return parts[split], extra


def build_moses3d_data(cfg: Any, *, seed: int) -> DataBundle:
    """The DataBundle of a ``MoleculeDataConfig`` naming MOSES3D (``seed`` is the training
    seed; the subset's seed is part of the dataset's name)."""
    from ..model.datasets import select_half
    from .perception import smiles_to_canonical

    data_seed, root = _parse(cfg.dataset, Path(cfg.cache_dir) if cfg.cache_dir else None)
    parts, extra = moses3d_parts(data_seed, root)
    train, valid = parts["train"], parts["valid"]
    train = train.subset(select_half(len(train), cfg.train_half))
    if cfg.max_atoms is not None:
        train = train.subset(torch.nonzero(train.num_atoms() <= cfg.max_atoms).flatten())
    if cfg.limit is not None:
        train = train.subset(range(min(cfg.limit, len(train))))
    if len(train) == 0:
        raise FickError(f"no MOSES3D training molecules left for data={cfg}: prepare more "
                        "(fick data molecules prepare-moses3d --n N) or relax limit / max_atoms")
    if cfg.val_limit is not None:
        valid = valid.subset(range(min(cfg.val_limit, len(valid))))
    info = train.info(MOSES3D_UNITS)
    info["dataset"] = cfg.dataset
    info["train_half"] = cfg.train_half
    name = f"{cfg.dataset.split(':')[0]}-{cfg.train_half}-{len(train)}"
    digest = (f"moses3d:{extra['source_digest']}:seed{data_seed}:recipe{extra['recipe']['version']}"
              f":{cfg.train_half}:{cfg.max_atoms}:{len(train)}")
    return DataBundle(
        train=train, val=valid if len(valid) else None, info=info, name=name,
        source="molsets (MOSES SMILES) + RDKit ETKDGv3 / MMFF94", digest=digest,
        test=parts["test"], collate_fn=collate,
        extras={"train_smiles": {smiles_to_canonical(s) or s for s in train.smiles()},
                "test": parts["test"]},
    )
