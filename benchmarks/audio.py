"""Throughput of the audio tasks: training items/s and the real-time factor of sampling.

    python -m benchmarks.audio [--threads 1] [--steps 5] [--n 16] [--model spoken-digits]

Training throughput: the spoken-digits data (synthesised into the cache on first use) and the
networks of ``configs/audio/*.yaml`` as given, validated like ``fick train`` validates them
(untrained weights: the speed is the same).
Sampling: the shipped ``spoken-digits`` model (or ``--model``, any model reference) at 25 and 50
steps with its own sampler and guidance, decoded with Griffin-Lim and, when the model embeds one,
its neural vocoder; ``--model none`` times untrained networks built from the configs instead.
Real-time factor = seconds of audio generated / seconds of compute (> 1: faster than real time).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from fick.pipelines import config as config_mod
from torch.utils.data import DataLoader

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "audio"  # read only


def _config(name: str, overrides: list[str] | None = None):
    """(validated run config, plugin) of ``configs/audio/<name>``."""
    return config_mod.load_config(CONFIGS / name, overrides)


def train_throughput(task, loader, steps: int) -> float:
    opt = torch.optim.AdamW([p for p in task.parameters() if p.requires_grad], lr=1e-4)
    task.train()
    it = iter(loader)
    items, elapsed, cpu = 0, 0.0, 0.0
    for i in range(steps + 1):
        batch = next(it)
        t0, c0 = time.perf_counter(), time.process_time()
        loss, _ = task.loss(batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i > 0:  # the first step warms up allocators and caches
            elapsed += time.perf_counter() - t0
            cpu += time.process_time() - c0
            items += batch["label"].shape[0]
    return items / elapsed, items / cpu


def sample_rows(task, name: str, vocoders: dict, n: int) -> list[tuple]:
    """Real-time factor of ``task.sample`` at 25 and 50 steps with each vocoder (None:
    Griffin-Lim), per wall second and per CPU second."""
    rows = []
    shipped_vocoder = task.vocoder
    n_params = sum(p.numel() for p in task.backbone.parameters())
    task.eval()
    try:
        for label, vocoder in vocoders.items():
            task.vocoder = vocoder
            for steps in (25, 50):
                g = torch.Generator().manual_seed(0)
                t0, c0 = time.perf_counter(), time.process_time()
                clips = task.sample(n, steps=steps, generator=g)
                seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
                audio = sum(c.seconds for c in clips)
                rows.append(
                    (
                        f"sample {name} {steps} steps {task.cfg.sampler} "
                        f"CFG {task.cfg.guidance} + {label}",
                        n_params,
                        audio / seconds,
                        audio / cpu,
                        "x real time",
                    )
                )
    finally:
        task.vocoder = shipped_vocoder
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5, help="training steps timed per task")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--n", type=int, default=16, help="clips sampled for the real-time factor")
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument(
        "--model",
        default="spoken-digits",
        help="model whose sampling is timed (default: the shipped spoken-digits; 'none': "
        "untrained networks from the configs)",
    )
    parser.add_argument("--no-train", action="store_true", help="skip the training rows")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg, plugin = _config("spoken-digits.yaml", [f"data.per_class={args.per_class}"])
    bundle = plugin.build_data(cfg.task, cfg.data, seed=0)
    loader = DataLoader(bundle.train, batch_size=args.batch, shuffle=True, drop_last=True)
    while len(loader) < args.steps + 1:
        loader = DataLoader(
            torch.utils.data.ConcatDataset([loader.dataset, bundle.train]),
            batch_size=args.batch,
            shuffle=True,
            drop_last=True,
        )
    info = bundle.info
    rows = []
    companions = {}
    for task_name, config in (
        ("autoencoder", "spoken-digits-vae.yaml"),
        ("vocoder", "vocoder.yaml"),
        ("classifier", "spoken-digits-classifier.yaml"),
    ):
        companion_cfg, _ = _config(config)
        task = plugin.build_task(companion_cfg.task, companion_cfg.model, info, None)
        companions[task_name] = task
        if args.no_train:
            continue
        n_params = sum(p.numel() for p in task.parameters())
        rows.append(
            (
                f"train {task_name} ({config})",
                n_params,
                *train_throughput(task, loader, args.steps),
                "items/s",
            )
        )
    resolve = {"vae": companions["autoencoder"], "voc": companions["vocoder"]}.__getitem__
    for denoiser in ("unet", "dit"):
        local = [f"model.denoiser={denoiser}", "model.autoencoder=vae", "model.classifier=null",
                 "model.vocoder=griffin-lim"]  # the companions built above, untrained
        cfg, _ = _config("spoken-digits.yaml", local)
        task = plugin.build_task(cfg.task, cfg.model, info, resolve)
        n_params = sum(p.numel() for p in task.backbone.parameters())
        if not args.no_train:
            rows.append(
                (
                    f"train diffusion {denoiser}",
                    n_params,
                    *train_throughput(task, loader, args.steps),
                    "items/s",
                )
            )
        if args.model == "none":
            vocoders = {"Griffin-Lim": None, "Vocos (untrained)": companions["vocoder"]}
            rows += sample_rows(task, f"{denoiser} (untrained)", vocoders, args.n)
    if args.model != "none":
        from fick.pipelines import modelio

        task = modelio.load(args.model).task
        vocoders = {"Griffin-Lim": None}
        if task.vocoder is not None:
            vocoders["neural vocoder"] = task.vocoder
        rows += sample_rows(task, f"{args.model} {task.cfg.denoiser}", vocoders, args.n)
    # Wall-clock figures depend on what else runs on the machine; per CPU-second figures
    # (process time) are what the same work costs on an otherwise idle core.
    print(f"threads={args.threads}, batch={args.batch}, n={args.n}")
    print("| what | parameters | per wall second | per CPU second | unit |")
    print("|---|---|---|---|---|")
    for what, n_params, wall, cpu, unit in rows:
        print(f"| {what} | {n_params / 1e6:.2f} M | {wall:.2f} | {cpu:.2f} | {unit} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
