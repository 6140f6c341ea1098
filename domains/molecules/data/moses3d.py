"""MOSES3D: MOSES's drug-like SMILES given 3D structures (RDKit ETKDGv3 + MMFF94), in shards.

Source: the SMILES files that the PyPI wheel ``molsets`` ships (``moses/dataset/data``). The
package is installed without its (old, conflicting) dependencies, so it is never imported: its
folder is found with ``importlib.util.find_spec``, which does not execute it.

The subset for a seed is a fixed permutation of the split (``numpy.random.RandomState(seed)``,
whose stream numpy keeps stable across versions): ``--n N`` takes its first N positions, so a
larger N extends a smaller one. Every molecule is embedded with its own random seed (its row in
the source file), so the result does not depend on the number of workers or on the order of
work. Shard ``k`` holds positions ``[k * shard_size, (k + 1) * shard_size)`` (successes in the
``records.PackedMolecules`` format, failures with their reasons); it is written to a temporary
name and renamed, so an interrupted run keeps its finished shards and resumes after them.
"""

from __future__ import annotations

import concurrent.futures as cf
import gzip
import hashlib
import importlib.util
import multiprocessing
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from fick.domains.base import FickError
from rdkit import Chem, RDLogger
from rdkit.Chem import QED, Crippen, Descriptors, rdDistGeom, rdMolDescriptors
from rdkit.Chem import rdForceFieldHelpers as mmff

from ..metrics.chemistry import sa_score
from .moses3d_shards import read_shard, split_folder, write_manifest, write_shard

__all__ = [
    "MOSES3D_ELEMENTS",
    "MOSES3D_PROPERTIES",
    "MOSES3D_SPLITS",
    "MOSES3D_UNITS",
    "embed_molecule",
    "molecule_properties",
    "moses_smiles",
    "prepare_moses3d",
    "subset_order",
]

RDLogger.DisableLog("rdApp.*")

# Sorted by atomic number, as imported datasets are (QM9's H C N O F come first, in its order).
MOSES3D_ELEMENTS = ["H", "C", "N", "O", "F", "S", "Cl", "Br"]
# Names as the molecules metrics report them (metrics.chemistry.druglikeness), so a condition
# and the measured value of a generated molecule carry one name.
MOSES3D_PROPERTIES = ["qed", "sa", "logp", "mol_weight", "tpsa", "num_rings"]
MOSES3D_UNITS = {"qed": "", "sa": "", "logp": "", "mol_weight": "g/mol", "tpsa": "A^2",
                 "num_rings": ""}
MOSES3D_SPLITS = {"train": "train.csv.gz", "test": "test.csv.gz",
                  "test_scaffolds": "test_scaffolds.csv.gz"}
# Bumped whenever a change alters what a shard holds: shards of another recipe are not mixed.
RECIPE = {"version": 1, "embedding": "ETKDGv3", "force_field": "MMFF94", "mmff_max_iters": 2000,
          "embed_timeout_s": 120}
_VOCAB = {e: i for i, e in enumerate(MOSES3D_ELEMENTS)}


def moses_data_folder() -> Path:
    """``moses/dataset/data`` of the installed molsets wheel (found without importing it)."""
    spec = importlib.util.find_spec("moses")
    if spec is None or not spec.submodule_search_locations:
        raise FickError("MOSES3D needs the MOSES SMILES files: pip install --no-deps molsets")
    return Path(list(spec.submodule_search_locations)[0]) / "dataset" / "data"


def moses_smiles(split: str) -> tuple[list[str], str]:
    """All SMILES of a MOSES split in file order, and a digest of the file."""
    if split not in MOSES3D_SPLITS:
        raise FickError(f"unknown MOSES split {split!r}: use one of {list(MOSES3D_SPLITS)}")
    path = moses_data_folder() / MOSES3D_SPLITS[split]
    if not path.exists():
        raise FickError(f"{path} is missing: reinstall with pip install --no-deps molsets")
    raw = path.read_bytes()
    lines = gzip.decompress(raw).decode().split()
    if not lines or lines[0] != "SMILES":
        raise FickError(f"{path} does not start with a SMILES header: not a MOSES file")
    return lines[1:], hashlib.sha256(raw).hexdigest()[:16]


def subset_order(num_smiles: int, seed: int) -> np.ndarray:
    """The fixed permutation of a split for ``seed``: position -> row in the source file."""
    return np.random.RandomState(seed).permutation(num_smiles)


def molecule_properties(mol: Chem.Mol) -> list[float]:
    """QED, SA score, Crippen logP, MW, TPSA and ring count of a molecule without hydrogens."""
    return [float(QED.qed(mol)), float(sa_score(mol)), float(Crippen.MolLogP(mol)),
            float(Descriptors.MolWt(mol)), float(rdMolDescriptors.CalcTPSA(mol)),
            float(rdMolDescriptors.CalcNumRings(mol))]


def _embedding_failure(params: rdDistGeom.EmbedParameters) -> str:
    counts = params.GetFailureCounts()
    causes = {name: counts[int(v)] for name, v in rdDistGeom.EmbedFailureCauses.names.items()
              if counts[int(v)]}
    return ", ".join(f"{k} x{v}" for k, v in sorted(causes.items(), key=lambda kv: -kv[1]))


def embed_molecule(smiles: str, seed: int) -> dict[str, Any]:
    """One molecule in 3D: {"ok": True, fields...} or {"ok": False, "reason", "detail"}.

    Hydrogens are added, ETKDGv3 embeds with ``seed`` (deterministic: one thread), MMFF94
    relaxes. Reasons: unparsable_smiles, unsupported_element, embedding_failed,
    mmff_no_parameters, mmff_not_converged."""
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        return {"ok": False, "reason": "unparsable_smiles", "detail": ""}
    bad = sorted({a.GetSymbol() for a in mol.GetAtoms()} - set(MOSES3D_ELEMENTS))
    if bad:
        return {"ok": False, "reason": "unsupported_element", "detail": " ".join(bad)}
    mol_h = Chem.AddHs(mol)
    params = rdDistGeom.ETKDGv3()
    params.randomSeed = int(seed)
    params.numThreads = 1
    params.timeout = RECIPE["embed_timeout_s"]
    params.trackFailures = True
    if rdDistGeom.EmbedMolecule(mol_h, params) < 0:
        return {"ok": False, "reason": "embedding_failed", "detail": _embedding_failure(params)}
    props = mmff.MMFFGetMoleculeProperties(mol_h)
    if props is None:
        return {"ok": False, "reason": "mmff_no_parameters", "detail": ""}
    field = mmff.MMFFGetMoleculeForceField(mol_h, props)
    if field.Minimize(maxIts=RECIPE["mmff_max_iters"]) != 0:
        return {"ok": False, "reason": "mmff_not_converged",
                "detail": f"after {RECIPE['mmff_max_iters']} iterations"}
    from .perception import kekulized_bonds

    return {
        "ok": True,
        "atom_type": [_VOCAB[a.GetSymbol()] for a in mol_h.GetAtoms()],
        "charge": [a.GetFormalCharge() for a in mol_h.GetAtoms()],
        "pos": np.asarray(mol_h.GetConformer().GetPositions(), dtype=np.float32),
        "bonds": kekulized_bonds(mol_h),
        "y": molecule_properties(mol),
        "energy": float(field.CalcEnergy()),
    }


def _embed_chunk(items: list[tuple[int, int, str]]) -> list[dict[str, Any]]:
    """Worker: embed (position, source row, SMILES) items; a molecule's seed is its row."""
    out = []
    for position, row, smiles in items:
        try:
            result = embed_molecule(smiles, row)
        except Exception as err:  # noqa: BLE001 - one molecule never stops a preparation
            result = {"ok": False, "reason": "error", "detail": f"{type(err).__name__}: {err}"}
        out.append({**result, "position": position, "index": row, "smiles": smiles})
    return out


def _plan(folder: Path, n: int, shard_size: int, digest: str
          ) -> tuple[list[tuple[int, int, int]], int]:
    """(shard, start, stop) ranges still to compute, and the number of shards already done.

    A shard that covers fewer positions than now asked (the last one of a smaller ``n``) is
    computed again whole: at most one shard of work, and one code path."""
    todo, done = [], 0
    for k in range((n + shard_size - 1) // shard_size):
        start, stop = k * shard_size, min((k + 1) * shard_size, n)
        shard = read_shard(folder, k)
        if shard is not None:
            meta = shard[1]
            if meta["shard_size"] != shard_size or meta["recipe"] != RECIPE or (
                    meta["source_digest"] != digest):
                raise FickError(
                    f"{folder} holds shards of other settings (shard size "
                    f"{meta['shard_size']}, recipe {meta['recipe']['version']}, source "
                    f"{meta['source_digest']}): pass --shard-size {meta['shard_size']}, "
                    "or another --out, or delete the folder")
            if meta["stop"] >= stop:
                done += 1
                continue
        todo.append((k, start, stop))
    return todo, done


def prepare_moses3d(
    split: str = "train", n: int = 10_000, *, seed: int = 0, workers: int | None = None,
    shard_size: int = 1000, out: Path | None = None, smiles: list[str] | None = None,
    progress: bool = True, chunk_size: int = 10,
) -> dict[str, Any]:
    """Prepare (or extend, or resume) the first ``n`` molecules of a split for ``seed``.

    ``smiles`` replaces the MOSES file (tests); returns the manifest (also written as
    ``manifest.json`` beside the shards) with this run's counts under ``"run"``."""
    if n < 1 or shard_size < 1 or (workers is not None and workers < 1):
        raise FickError(f"--n ({n}), --shard-size ({shard_size}) and --workers ({workers}) "
                        "must be positive")
    if smiles is None:
        source, digest = moses_smiles(split)
    else:
        source = list(smiles)
        digest = hashlib.sha256("\n".join(source).encode()).hexdigest()[:16]
    n = min(n, len(source))
    order = subset_order(len(source), seed)
    folder = split_folder(split, seed, out)
    todo, done = _plan(folder, n, shard_size, digest)
    workers = workers or len(os.sched_getaffinity(0))
    meta = {"split": split, "seed": seed, "shard_size": shard_size, "recipe": RECIPE,
            "source_digest": digest, "elements": MOSES3D_ELEMENTS,
            "properties": MOSES3D_PROPERTIES}
    t0 = time.time()
    failures: Counter[str] = Counter()
    total = sum(stop - start for _, start, stop in todo)
    from tqdm import tqdm

    bar = tqdm(total=total, unit="mol", desc=f"MOSES3D {split}", disable=not progress,
               dynamic_ncols=True)
    sa_score(Chem.MolFromSmiles("C"))  # loads the SA fragment table once, before the fork
    pool = None
    if workers > 1 and total > chunk_size:
        pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))

    def chunks_of(start: int, stop: int) -> list[list[tuple[int, int, str]]]:
        items = [(p, int(order[p]), source[int(order[p])]) for p in range(start, stop)]
        return [items[i : i + chunk_size] for i in range(0, len(items), chunk_size)]

    def finish(job: tuple[int, int, int], parts: list) -> None:
        results: list[dict[str, Any]] = []
        for part in parts:
            chunk_result = part.result() if pool else _embed_chunk(part)
            results += chunk_result
            failures.update(r["reason"] for r in chunk_result if not r["ok"])
            bar.update(len(chunk_result))
            bar.set_postfix(failed=sum(failures.values()), refresh=False)
        write_shard(folder, job[0], results, {**meta, "start": job[1], "stop": job[2]})

    try:
        # The next shard's work is queued before this one is collected, so that workers do not
        # idle at shard boundaries; shards are still written in order.
        queued: list[tuple[tuple[int, int, int], list]] = []
        for job in todo:
            parts = chunks_of(job[1], job[2])
            queued.append((job, [pool.submit(_embed_chunk, c) for c in parts] if pool else parts))
            if len(queued) > 1:
                finish(*queued.pop(0))
        for job, parts in queued:
            finish(job, parts)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    seconds = time.time() - t0
    run = {"computed_molecules": total, "computed_shards": len(todo), "skipped_shards": done,
           "seconds": round(seconds, 2), "workers": workers,
           "molecules_per_s": round(total / seconds, 3) if total and seconds else None,
           "failures": dict(failures)}
    return write_manifest(folder, n, meta, run)
