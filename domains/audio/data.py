"""Audio datasets: users' folders / manifests and the synthesised spoken digits, with a feature
cache (conditioned waveforms and log-mels as safetensors) under ``$FICK_CACHE`` (default
``~/.cache/fick``)."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch
from fick.domains.audio.audio_io import LoadReport, discover_files, ignored_files, load_clips
from fick.domains.audio.config import AudioDataConfig
from fick.domains.audio.features import MelFrontEnd, MelSettings
from fick.domains.audio.text import caption_vocabulary
from fick.domains.base import DataBundle, FickError
from safetensors.torch import load_file, save_file
from torch.utils.data import Dataset

__all__ = ["AudioClips", "build_audio_data", "cache_root", "spoken_digits_folder"]

SPLITS = ("train", "validation", "test")


def cache_root(cfg: AudioDataConfig | None = None) -> Path:
    """``cfg.cache_dir``, else ``$FICK_CACHE``, else ``~/.cache/fick``; plus ``audio/``."""
    base = (
        (cfg.cache_dir if cfg is not None and cfg.cache_dir else None)
        or os.environ.get("FICK_CACHE")
        or Path.home() / ".cache" / "fick"
    )
    return Path(base) / "audio"


class AudioClips(Dataset):
    """Fixed-length clips: items ``{"audio": (L,), "log_mel": (n_mels, frames), "label": long,
    "caption": str}`` ("" without a caption). ``log_mel`` is the unnormalised natural-log mel;
    models standardise it with their front end."""

    def __init__(
        self,
        audio: torch.Tensor,
        log_mel: torch.Tensor,
        labels: torch.Tensor,
        names: list[str],
        captions: list[str] | None = None,
    ):
        self.audio, self.log_mel, self.labels, self.names = audio, log_mel, labels, names
        self.captions = captions if captions is not None else [""] * len(names)

    def __len__(self) -> int:
        return self.audio.shape[0]

    def __getitem__(self, i: int) -> dict:
        return {
            "audio": self.audio[i],
            "log_mel": self.log_mel[i],
            "label": self.labels[i],
            "caption": self.captions[i],
        }


def spoken_digits_folder(cfg: AudioDataConfig) -> Path:
    """The synthesised set for (per_class, synth_seed), generated on first use."""
    from fick.domains.audio.spoken_digits import add_captions, generate_spoken_digits

    folder = cache_root(cfg) / f"spoken-digits-n{cfg.per_class}-s{cfg.synth_seed}"
    if not (folder / "manifest.csv").is_file():
        print(
            f"synthesising spoken digits ({10 * cfg.per_class} clips) into {folder}",
            file=sys.stderr,
        )
        generate_spoken_digits(folder, per_class=cfg.per_class, seed=cfg.synth_seed)
    add_captions(folder, per_class=cfg.per_class, seed=cfg.synth_seed)  # sets made before captions
    return folder


def _hash_split(name: str, cfg: AudioDataConfig) -> str:
    u = int(hashlib.md5(name.encode()).hexdigest()[:8], 16) / 16**8
    return (
        "test"
        if u < cfg.test_fraction
        else ("validation" if u < cfg.test_fraction + cfg.val_fraction else "train")
    )


def _items(cfg: AudioDataConfig) -> tuple[list[dict], str, dict[str, str]]:
    """(clips to read, source, non-audio files passed over in a folder)."""
    if cfg.dataset == "spoken-digits":
        folder = spoken_digits_folder(cfg)
        items = discover_files(folder, folder / "manifest.csv")
        if cfg.heldout_combinations:
            from fick.domains.audio.spoken_digits import caption_parts, heldout_combination

            for item in items:
                parts = caption_parts(item.get("caption") or "")
                if parts is not None and heldout_combination(*parts):
                    item["split"] = "test"
        return items, str(folder), {}
    if cfg.dataset == "manifest":
        if not cfg.manifest:
            raise FickError(
                "data.dataset is 'manifest' but data.manifest is empty: "
                "--set data.manifest=PATH.csv"
            )
        return discover_files(None, cfg.manifest), str(cfg.manifest), {}
    if cfg.dataset == "folder":
        if not cfg.root:
            raise FickError("data.dataset is 'folder' but data.root is empty: --set data.root=DIR")
        return discover_files(cfg.root), str(cfg.root), ignored_files(cfg.root)
    raise FickError(f"unknown data.dataset {cfg.dataset!r}: use spoken-digits, folder or manifest")


def _fingerprint(items: list[dict], cfg: AudioDataConfig) -> str:
    h = hashlib.sha256()
    for item in items:
        try:
            st = os.stat(item["path"])
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"{item['path']}|{item['label']}|{item.get('split')}|{stamp}\n".encode())
        if item.get("caption"):  # only then: the keys of caption-less sets stay as they were
            h.update(f"caption|{item['caption']}\n".encode())
    keys = (
        "sample_rate",
        "duration",
        "loudness_dbfs",
        "n_fft",
        "hop_length",
        "n_mels",
        "f_min",
        "f_max",
        "val_fraction",
        "test_fraction",
    )
    h.update(json.dumps({k: getattr(cfg, k) for k in keys}).encode())
    return h.hexdigest()[:20]


def _featurise(items, cfg, settings):
    num_samples = int(round(cfg.duration * cfg.sample_rate))
    num_samples -= num_samples % cfg.hop_length  # whole hops: frames * hop == samples
    clips, kept, report = load_clips(
        items, sample_rate=cfg.sample_rate, num_samples=num_samples, target_dbfs=cfg.loudness_dbfs
    )
    if not clips:
        raise FickError("no readable, non-silent audio files: check the folder or manifest")
    audio = torch.stack(clips)
    front = MelFrontEnd(settings)
    log_mel = torch.cat([front.log_mel(chunk) for chunk in audio.split(256)])
    return audio, log_mel, kept, report


def build_audio_data(cfg: AudioDataConfig, *, seed: int = 0) -> DataBundle:
    """Load (from the cache when possible) and split a dataset; see ``AudioDataConfig``."""
    settings = MelSettings(
        cfg.sample_rate, cfg.n_fft, cfg.hop_length, cfg.n_mels, cfg.f_min, cfg.f_max
    )
    items, source, ignored = _items(cfg)
    key = _fingerprint(items, cfg)
    cache = cache_root(cfg) / "features" / key
    if (cache / "meta.json").is_file():
        tensors = load_file(str(cache / "features.safetensors"))
        meta = json.loads((cache / "meta.json").read_text())
    else:
        audio, log_mel, kept, report = _featurise(items, cfg, settings)
        labels_text = [str(it["label"]) if it["label"] is not None else "" for it in kept]
        splits = [
            it.get("split") or _hash_split(Path(it["path"]).name + "/" + labels_text[i], cfg)
            for i, it in enumerate(kept)
        ]
        tensors = {"audio": audio.contiguous(), "log_mel": log_mel.contiguous()}
        digest = hashlib.sha256(
            audio.numpy().tobytes() + "\n".join(labels_text).encode()
        ).hexdigest()[:16]
        meta = {
            "names": [it["path"] for it in kept],
            "labels": labels_text,
            "splits": splits,
            "skipped": report.skipped,
            "captions": [it.get("caption") or "" for it in kept],
            "digest": digest,
        }
        cache.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(cache / "features.safetensors"))
        (cache / "meta.json").write_text(json.dumps(meta))  # written last: marks a whole entry
    # said once per build, from the cache too: a training on a cached set still names the files
    # it left out (the ignored ones are listed afresh: they are not part of the cache key)
    captions = meta.get("captions") or [""] * len(meta["names"])
    # a caption column with holes: those clips train the unconditional (prompt-dropped) model
    uncaptioned = [n for n, c in zip(meta["names"], captions) if not c] if any(captions) else []
    report = LoadReport(
        loaded=meta["names"], skipped=meta["skipped"], ignored=ignored, uncaptioned=uncaptioned
    )
    if report.skipped or report.ignored or report.uncaptioned:
        print(report.summary(), file=sys.stderr)

    class_names = sorted({lab for lab in meta["labels"]})
    index = {name: i for i, name in enumerate(class_names)}
    labels = torch.tensor([index[lab] for lab in meta["labels"]], dtype=torch.long)
    bad = [s for s in meta["splits"] if s not in SPLITS]
    if bad:
        raise FickError(f"unknown split {bad[0]!r} in the manifest: use train, validation or test")
    parts = {}
    for split in SPLITS:
        idx = [i for i, s in enumerate(meta["splits"]) if s == split]
        if split == "train" and cfg.max_items is not None:
            idx = idx[: cfg.max_items]
        ids = torch.tensor(idx, dtype=torch.long)
        parts[split] = AudioClips(
            tensors["audio"][ids],
            tensors["log_mel"][ids],
            labels[ids],
            [meta["names"][i] for i in idx],
            [captions[i] for i in idx],
        )
    train = parts["train"]
    if len(train) == 0:
        raise FickError("the training split is empty: add files or lower val/test fractions")
    if cfg.normalize == "global":
        mean, std = train.log_mel.mean().item(), train.log_mel.std().item()
    elif cfg.normalize == "per_bin":
        mean = train.log_mel.mean(dim=(0, 2)).tolist()
        std = train.log_mel.std(dim=(0, 2)).clamp(min=1e-3).tolist()
    elif cfg.normalize == "none":
        mean, std = 0.0, 1.0
    else:
        raise FickError(f"unknown data.normalize {cfg.normalize!r}: use global, per_bin or none")
    counts = torch.bincount(train.labels, minlength=len(class_names)).tolist()
    info = {
        "mel": settings.to_dict(),
        "mel_mean": mean,
        "mel_std": std,
        "sample_rate": cfg.sample_rate,
        "num_samples": int(train.audio.shape[-1]),
        "duration": train.audio.shape[-1] / cfg.sample_rate,
        "class_names": class_names,
        "num_classes": len(class_names),
        "train_class_counts": counts,
        "loudness_dbfs": cfg.loudness_dbfs,
        # the text encoder's word-piece vocabulary is built from the training captions
        "caption_vocabulary": caption_vocabulary(train.captions),
    }
    name = "spoken-digits" if cfg.dataset == "spoken-digits" else Path(source).stem
    return DataBundle(
        train=train,
        val=parts["validation"] if len(parts["validation"]) else None,
        info=info,
        name=name,
        source=source,
        digest=meta["digest"],
        test=parts["test"] if len(parts["test"]) else None,
        # the report is printed above; under its own key, not "skipped", which `fick data
        # audio stats` printed a second time
        extras={"load_report": report, "cache": str(cache)},
    )
