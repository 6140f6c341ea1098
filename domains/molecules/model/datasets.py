"""The DataBundle of a molecules config: QM9 (EDM split) or an imported dataset, with EDM's
half-split of the training set for conditional generation and its property predictor."""

from __future__ import annotations

from pathlib import Path

import torch
from fick.domains.base import DataBundle, FickError

from .config import MoleculeDataConfig

__all__ = ["build_molecule_data", "select_half"]


def select_half(n: int, half: str) -> range:
    """Positions of the first or second half of ``n`` training molecules (EDM: n // 2 each)."""
    if half == "first-half":
        return range(0, n // 2)
    if half == "second-half":
        return range(n // 2, n)
    return range(n)


def build_molecule_data(cfg: MoleculeDataConfig, *, seed: int) -> DataBundle:
    from ..data import QM9_UNITS, collate, load_qm9, load_qm9_split

    cache = Path(cfg.cache_dir) if cfg.cache_dir else None
    if cfg.dataset.lower() == "qm9" and cfg.limit is not None and cfg.train_half == "all":
        # tiny configs: only the rows needed (processed in seconds without a full cache; the
        # full cache is used when present); novelty is then measured against this subset
        train, perception = load_qm9_split("train", cfg.limit, cache)
        valid, _ = load_qm9_split("valid", cfg.val_limit or 200, cache)
        test = None
        from ..data.perception import smiles_to_canonical

        train_smiles = {smiles_to_canonical(x) or x for x in train.smiles()}
        source, digest, units = "qm9pack", f"qm9-train-first{cfg.limit}", QM9_UNITS
    elif cfg.dataset.lower() == "qm9":
        qm9 = load_qm9(cache)
        train, valid, test = qm9.train, qm9.valid, qm9.test
        train_smiles = qm9.train_smiles()
        source, digest, units = "qm9pack", qm9.digest, QM9_UNITS
    else:
        from ..data.importer import load_imported, split_dataset

        ds, extra = load_imported(cfg.dataset, cache)
        parts = split_dataset(ds, seed=0)  # a fixed split: the same data -> the same split
        train, valid, test = parts["train"], parts["valid"], parts["test"]
        from ..data.perception import smiles_to_canonical

        train_smiles = {smiles_to_canonical(x) or x for x in train.smiles()}
        source, digest = extra.get("source", cfg.dataset), extra.get("digest", "")
        units = extra.get("info", {}).get("units")
    train = train.subset(select_half(len(train), cfg.train_half))
    if cfg.max_atoms is not None:
        keep = torch.nonzero(train.num_atoms() <= cfg.max_atoms).flatten()
        train = train.subset(keep)
    if cfg.limit is not None:
        train = train.subset(range(min(cfg.limit, len(train))))
    if len(train) == 0:
        raise FickError(f"no training molecules left for data={cfg}: relax limit / max_atoms")
    if cfg.val_limit is not None:
        valid = valid.subset(range(min(cfg.val_limit, len(valid))))
    info = train.info(units)
    info["dataset"] = cfg.dataset
    info["train_half"] = cfg.train_half
    name = cfg.dataset if cfg.train_half == "all" else f"{cfg.dataset}-{cfg.train_half}"
    if cfg.limit is not None:
        name += f"-first{cfg.limit}"
    return DataBundle(
        train=train, val=valid, info=info, name=name, source=source,
        digest=f"{digest}:{cfg.train_half}:{cfg.limit}:{cfg.max_atoms}", test=test,
        collate_fn=collate, extras={"train_smiles": train_smiles, "test": test},
    )
