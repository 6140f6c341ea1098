"""FCD (the ``fcd`` package) and the MOSES metrics of generated SMILES against a reference set
whose statistics are computed once and cached on disk.

The statistics of MOSES's test set (176,074 SMILES) take about 20 minutes on one busy CPU core
(ChemNet is most of it: about 180 SMILES/s), so ``reference_statistics`` stores them in
``<fick cache>/moses/`` (``FICK_CACHE`` or ``~/.cache/fick``) as a plain ``.npz`` (no pickle);
``size=N`` uses a fixed random subset of N test SMILES instead (seed 0), cached under its own
name, for a quicker first evaluation at the price of a noisier FCD. The ChemNet activations are
written chunk by chunk beside the cache file (``<name>.partial/``) while they are computed, so an
interrupted computation resumes at its last finished chunk; the folder goes once the cache is
written. ``MosesReference.excluding`` removes molecules from a reference exactly (FCD moments,
fingerprints, fragment and scaffold counts), e.g. the test molecules that are themselves being
evaluated, so that they are not compared with themselves.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from fick.domains.base import FickError

from .moses_metrics import (
    cosine_similarity,
    fragment_counts,
    internal_diversity,
    morgan_fingerprints,
    moses_smiles,
    passes_filters,
    scaffold_counts,
    smiles_to_mols,
    snn,
)

__all__ = [
    "MosesReference",
    "compute_reference",
    "fcd_activations",
    "fcd_distance",
    "moses_metrics",
    "reference_smiles",
    "reference_statistics",
]

_CACHE_VERSION = 1
_CHUNK = 2048  # SMILES per ChemNet pass: bounded memory, and a progress bar that moves
_CLAIM_POLL_S = 5.0  # how often to look for a chunk that another process is computing
_CLAIM_STALE_S = 900.0  # a claim this old is taken over (a chunk takes a minute or two)


@dataclass
class MosesReference:
    """What the MOSES metrics need of a reference set."""

    name: str
    size: int
    fcd_mu: np.ndarray  # (512,) ChemNet mean
    fcd_sigma: np.ndarray  # (512, 512) ChemNet covariance (ddof 1, as np.cov)
    fps: np.ndarray  # (N, 1024) uint8 Morgan bits
    fragments: Counter
    scaffolds: Counter

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez(
            tmp, version=_CACHE_VERSION, name=self.name, size=self.size, fcd_mu=self.fcd_mu,
            fcd_sigma=self.fcd_sigma, fps=np.packbits(self.fps, axis=1),
            frag_keys=np.array(list(self.fragments), dtype=str),
            frag_counts=np.array(list(self.fragments.values()), dtype=np.int64),
            scaf_keys=np.array(list(self.scaffolds), dtype=str),
            scaf_counts=np.array(list(self.scaffolds.values()), dtype=np.int64),
        )
        os.replace(tmp, path)  # atomic: a killed run never leaves a half cache that looks whole

    @classmethod
    def load(cls, path: Path) -> MosesReference:
        with np.load(path, allow_pickle=False) as z:
            if int(z["version"]) != _CACHE_VERSION:
                raise ValueError("old cache version")
            return cls(
                str(z["name"]), int(z["size"]), z["fcd_mu"], z["fcd_sigma"],
                np.unpackbits(z["fps"], axis=1)[:, :1024],
                Counter(dict(zip(z["frag_keys"].tolist(), z["frag_counts"].tolist()))),
                Counter(dict(zip(z["scaf_keys"].tolist(), z["scaf_counts"].tolist()))),
            )


    def excluding(self, ref_smiles: Sequence[str], drop: Iterable[str]) -> MosesReference:
        """This reference without the molecules of ``ref_smiles`` (the SMILES it was computed
        from, in order) whose canonical SMILES are in ``drop``: the FCD mean and covariance
        downdated exactly from their ChemNet activations, their fingerprints, fragments and
        scaffolds removed. The same reference when none of them is there."""
        from ..data.perception import smiles_to_canonical

        if len(ref_smiles) != self.size:
            raise FickError(f"{len(ref_smiles)} SMILES given for the {self.size} of the "
                            f"reference {self.name}: pass the SMILES it was computed from")
        drop = set(drop)
        gone = np.array([smiles_to_canonical(s) in drop for s in ref_smiles], dtype=bool)
        n, rest = int(gone.sum()), self.size - int(gone.sum())
        if n == 0:
            return self
        if rest < 2:
            raise FickError(f"excluding {n} molecules leaves {rest} of reference {self.name}")
        dropped = [s for s, g in zip(ref_smiles, gone) if g]
        act = fcd_activations(dropped).astype(np.float64)
        total = self.size * self.fcd_mu - act.sum(0)
        outer = ((self.size - 1) * self.fcd_sigma + self.size * np.outer(self.fcd_mu, self.fcd_mu)
                 - act.T @ act)
        mu = total / rest
        sigma = (outer - rest * np.outer(mu, mu)) / (rest - 1)
        mols = smiles_to_mols(dropped)
        return MosesReference(
            f"{self.name}-without-{n}", rest, mu, sigma, self.fps[~gone],
            +(self.fragments - fragment_counts(mols)), +(self.scaffolds - scaffold_counts(mols)),
        )


@lru_cache(maxsize=1)
def _chemnet():
    import fcd

    return fcd.load_ref_model()


def _predict(smiles: Sequence[str]) -> np.ndarray:
    import fcd

    # n_jobs=0: the SMILES are encoded in this process; a DataLoader worker would be forked from
    # a process holding the whole reference, for every chunk
    return fcd.get_predictions(_chemnet(), list(smiles), n_jobs=0)


def _claimed_elsewhere(claim: Path) -> bool:
    """Is ``claim`` (a chunk being computed) held by another live process on this machine? A
    claim of a dead process, or older than ``_CLAIM_STALE_S``, is removed."""
    try:
        pid = int(claim.read_text() or 0)
        age = time.time() - claim.stat().st_mtime
    except (OSError, ValueError):
        return claim.exists()
    if pid != os.getpid() and age < _CLAIM_STALE_S:
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            pass
        except PermissionError:
            return True
    claim.unlink(missing_ok=True)
    return False


def _chunk_activations(smiles: Sequence[str], partial_dir: Path | None) -> np.ndarray | None:
    """ChemNet activations of one chunk, read from / written to ``partial_dir`` when given;
    None while another process computes that chunk (it holds ``<chunk>.claim``)."""
    if partial_dir is None:
        return _predict(smiles)
    digest = hashlib.sha1("\n".join(smiles).encode()).hexdigest()[:16]
    path = partial_dir / f"act-{digest}.npy"
    if path.is_file():
        try:
            act = np.load(path, allow_pickle=False)
            if act.shape == (len(smiles), 512):
                return act
        except (OSError, ValueError):
            pass  # a damaged chunk: compute it again
    partial_dir.mkdir(parents=True, exist_ok=True)
    claim = path.with_suffix(".claim")
    try:
        fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        if _claimed_elsewhere(claim):
            return None
        return _chunk_activations(smiles, partial_dir)
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        act = _predict(smiles)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, act)
        os.replace(tmp, path)
    finally:
        claim.unlink(missing_ok=True)
    return act


def fcd_activations(smiles: Sequence[str], *, progress: bool = False,
                    partial_dir: Path | None = None) -> np.ndarray:
    """(N, 512) ChemNet activations of SMILES (``fcd.get_predictions``), in chunks of
    ``_CHUNK``; with ``partial_dir`` each finished chunk is kept there (named by a digest of its
    SMILES) and reused by a later call, so an interrupted computation resumes, and processes
    computing the same reference at once share the chunks out (a chunk another one is
    computing is skipped, then read once it is written)."""
    starts = list(range(0, len(smiles), _CHUNK))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(starts), desc="ChemNet", unit="chunk", leave=False)
    parts: dict[int, np.ndarray] = {}
    while starts:
        waiting = []
        for i in starts:
            act = _chunk_activations(smiles[i:i + _CHUNK], partial_dir)
            if act is None:
                waiting.append(i)
            else:
                parts[i] = act
                if bar is not None:
                    bar.update()
        if waiting:
            time.sleep(_CLAIM_POLL_S)
        starts = waiting
    if bar is not None:
        bar.close()
    if not parts:
        return np.zeros((0, 512), dtype=np.float32)
    return np.concatenate([parts[i] for i in sorted(parts)])


def fcd_distance(smiles: Sequence[str], mu: np.ndarray, sigma: np.ndarray) -> float:
    """FCD of generated SMILES against a reference's ChemNet mean and covariance."""
    import fcd

    if len(smiles) < 2:
        return math.nan  # a covariance needs two molecules
    act = fcd_activations(smiles).astype(np.float64)
    return float(fcd.calculate_frechet_distance(
        mu1=act.mean(0), sigma1=np.cov(act.T), mu2=mu, sigma2=sigma))


def compute_reference(smiles: Sequence[str], name: str = "custom", *,
                      progress: bool = False, partial_dir: Path | None = None
                      ) -> MosesReference:
    """The statistics of a reference set of SMILES (``partial_dir``: see ``fcd_activations``)."""
    act = fcd_activations(smiles, progress=progress, partial_dir=partial_dir).astype(np.float64)
    mols = smiles_to_mols(smiles)
    return MosesReference(
        name, len(smiles), act.mean(0), np.cov(act.T), morgan_fingerprints(mols),
        fragment_counts(mols), scaffold_counts(mols),
    )


def _cache_dir() -> Path:
    from ..data.records import cache_root

    return cache_root() / "moses"


def reference_smiles(split: str = "test", size: int | None = None) -> list[str]:
    """The SMILES a reference is computed from: a MOSES split, or its fixed subset of ``size``
    (seed 0, in file order)."""
    smiles = moses_smiles(split)
    if size is not None:
        if size < 2:
            raise FickError(f"a MOSES reference subset needs at least 2 SMILES, not {size}")
        if size < len(smiles):
            keep = np.sort(np.random.default_rng(0).permutation(len(smiles))[:size])
            smiles = [smiles[i] for i in keep]
    return smiles


def reference_statistics(split: str = "test", size: int | None = None, *,
                         cache_dir: Path | None = None, progress: bool = True
                         ) -> MosesReference:
    """The cached statistics of a MOSES test split (all of it, or a fixed subset of ``size``)."""
    smiles = reference_smiles(split, size)
    tag = "all" if size is None or size >= len(moses_smiles(split)) else str(len(smiles))
    path = (cache_dir or _cache_dir()) / f"{split}-{tag}-v{_CACHE_VERSION}.npz"
    if path.is_file():
        try:
            return MosesReference.load(path)
        except (OSError, ValueError, KeyError):
            pass  # unreadable or old: compute it again
    if progress:
        print(f"computing MOSES {split} reference statistics of {len(smiles)} SMILES once "
              f"(cached in {path})", flush=True)
    partial = path.with_name(path.stem + ".partial")
    ref = compute_reference(smiles, f"{split}-{tag}", progress=progress, partial_dir=partial)
    ref.save(path)
    shutil.rmtree(partial, ignore_errors=True)
    return ref


def moses_metrics(
    smiles: Sequence[str],
    references: dict[str, MosesReference],
    *,
    train_smiles: Iterable[str] | None = None,
) -> dict[str, float]:
    """MOSES metrics of generated canonical SMILES (valid ones, duplicates kept, as MOSES)."""
    if not smiles:
        return {}
    mols = smiles_to_mols(smiles)
    fps = morgan_fingerprints(mols)
    frags, scafs = fragment_counts(mols), scaffold_counts(mols)
    out: dict[str, float] = {}
    for label, ref in references.items():
        out[f"fcd/{label}"] = fcd_distance(smiles, ref.fcd_mu, ref.fcd_sigma)
        out[f"snn/{label}"] = snn(fps, ref.fps)
        out[f"frag/{label}"] = cosine_similarity(ref.fragments, frags)
        out[f"scaf/{label}"] = cosine_similarity(ref.scaffolds, scafs)
    out["intdiv"] = internal_diversity(fps, 1)
    out["intdiv2"] = internal_diversity(fps, 2)
    out["filters"] = float(np.mean([passes_filters(m) for m in mols]))
    if train_smiles is not None:
        train = train_smiles if isinstance(train_smiles, set | frozenset) else set(train_smiles)
        unique = set(smiles)
        out["novelty_moses"] = len(unique - train) / len(unique)
    return out
