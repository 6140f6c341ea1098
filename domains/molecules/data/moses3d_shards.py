"""MOSES3D on disk: one folder per split and seed, shards of packed molecules, a manifest.

``<root>/<split>-seed<S>/shard-00000.pt`` ... hold plain tensors, lists and dicts (read with
``torch.load(weights_only=True)``); ``manifest.json`` beside them sums them up (molecules,
failures per reason, each failed SMILES with its reason). The shards are the truth: the
manifest is rewritten from them after every run.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .records import PackedMolecules, cache_root, make_record

__all__ = ["default_root", "load_prepared", "read_shard", "split_folder", "write_manifest",
           "write_shard"]

_SHARD = re.compile(r"^shard-(\d{5,})\.pt$")
MAX_LISTED_FAILURES = 10_000  # the manifest names each failure up to this many


def default_root(cache_dir: Path | None = None) -> Path:
    """Where ``prepare-moses3d`` writes without ``--out``: ``$FICK_CACHE/molecules/moses3d``."""
    return (cache_dir or cache_root()) / "molecules" / "moses3d"


def split_folder(split: str, seed: int, root: Path | None = None) -> Path:
    return (root or default_root()) / f"{split}-seed{seed}"


def _shard_path(folder: Path, k: int) -> Path:
    return folder / f"shard-{k:05d}.pt"


def write_shard(folder: Path, k: int, results: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """Pack one shard's successes and list its failures (atomic: temp file, then rename)."""
    ok = [r for r in results if r["ok"]]
    records = []
    for r in ok:
        b = np.asarray(r["bonds"], dtype=np.int64).reshape(-1, 3)
        records.append(make_record(r["pos"], r["atom_type"], r["charge"], b[:, :2].T, b[:, 2],
                                   r["y"], smiles=r["smiles"], index=r["index"]))
    packed = PackedMolecules.from_records(records)
    packed.t["y"] = packed.t["y"].reshape(-1, len(meta["properties"]))
    extra = {
        **meta,
        "position": torch.tensor([r["position"] for r in ok], dtype=torch.long),
        "mmff_energy": torch.tensor([r["energy"] for r in ok], dtype=torch.float64),
        "failures": [{k2: r[k2] for k2 in ("position", "index", "smiles", "reason", "detail")}
                     for r in results if not r["ok"]],
    }
    packed.save(_shard_path(folder, k), extra)  # writes shard-K.pt.tmp, then os.replace


def read_shard(folder: Path, k: int) -> tuple[PackedMolecules, dict[str, Any]] | None:
    """A finished shard, or None if it is missing or unreadable (it is then computed again)."""
    path = _shard_path(folder, k)
    if not path.exists():
        return None
    try:
        return PackedMolecules.load(path)
    except Exception:  # noqa: BLE001 - a damaged file is a missing shard, never a crash
        return None


def _contiguous_shards(folder: Path) -> list[tuple[PackedMolecules, dict[str, Any]]]:
    """Shards 0, 1, ... while each starts where the previous one stopped."""
    numbers = sorted(int(m.group(1)) for p in folder.glob("shard-*.pt")
                     if (m := _SHARD.match(p.name)))
    shards, stop = [], 0
    for k in range(len(numbers)):
        shard = read_shard(folder, k) if k in numbers else None
        if shard is None or shard[1]["start"] != stop:
            break
        shards.append(shard)
        stop = shard[1]["stop"]
    return shards


def _concat(parts: list[PackedMolecules], num_props: int) -> PackedMolecules:
    atom_counts = torch.cat([p.t["atom_ptr"].diff() for p in parts])
    bond_counts = torch.cat([p.t["bond_ptr"].diff() for p in parts])
    zero = torch.zeros(1, dtype=torch.long)
    return PackedMolecules({
        "atom_ptr": torch.cat([zero, atom_counts.cumsum(0)]),
        "bond_ptr": torch.cat([zero, bond_counts.cumsum(0)]),
        "pos": torch.cat([p.t["pos"] for p in parts]),
        "atom_type": torch.cat([p.t["atom_type"] for p in parts]),
        "charge": torch.cat([p.t["charge"] for p in parts]),
        "bond_index": torch.cat([p.t["bond_index"] for p in parts], 1),
        "bond_type": torch.cat([p.t["bond_type"] for p in parts]),
        "y": torch.cat([p.t["y"].reshape(-1, num_props) for p in parts]),
        "index": torch.cat([p.t["index"] for p in parts]),
        "smiles": [s for p in parts for s in p.t["smiles"]],
    })


def load_prepared(folder: Path) -> tuple[PackedMolecules, dict[str, Any]] | None:
    """All molecules of the contiguous shards of a folder, their positions and energies."""
    shards = _contiguous_shards(folder)
    if not shards:
        return None
    meta = shards[-1][1]
    packed = _concat([s[0] for s in shards], len(meta["properties"]))
    extra = {k: v for k, v in meta.items() if k not in ("start", "position", "mmff_energy",
                                                         "failures")}
    extra["position"] = torch.cat([s[1]["position"] for s in shards])
    extra["mmff_energy"] = torch.cat([s[1]["mmff_energy"] for s in shards])
    extra["failures"] = [f for s in shards for f in s[1]["failures"]]
    return packed, extra


def write_manifest(folder: Path, n: int, meta: dict[str, Any], run: dict[str, Any]
                   ) -> dict[str, Any]:
    """Sum up the folder's shards into ``manifest.json`` (atomic) and return it."""
    shards = _contiguous_shards(folder)
    failures = [f for s in shards for f in s[1]["failures"]]
    prepared = shards[-1][1]["stop"] if shards else 0
    manifest = {
        **{k: meta[k] for k in ("split", "seed", "shard_size", "recipe", "source_digest",
                                "elements", "properties")},
        "folder": str(folder),
        "requested_n": n,
        "prepared_positions": prepared,
        "molecules": sum(len(s[0]) for s in shards),
        "failed": len(failures),
        "failure_rate": round(len(failures) / prepared, 5) if prepared else None,
        "failure_reasons": dict(Counter(f["reason"] for f in failures).most_common()),
        "shards": len(shards),
        "failures": failures[:MAX_LISTED_FAILURES],
        "run": run,
    }
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, folder / "manifest.json")
    return manifest
