"""Threads benchmark of the molecule network: ``python -m benchmarks.molecules_threads``.

Times fick's molecule denoiser (the EGNN of configs/molecules/qm9-sc.yaml) as a user runs it:

- ``forward``: one no-grad forward pass of the denoiser over a batch of noisy molecules (what a
  sampling step costs);
- ``train``: one training step (the task's loss with self-conditioning, backward, Adam step;
  the random draws are seeded per repeat, so every variant does the same work in a repeat);

at 1 and 2 intra-op threads (``--threads``), on a quiet machine and with a competing process
that this script starts and stops itself (a busy Python loop: one other core taken, as by a
second job), at the shipped size (128 hidden x 6 layers, 64-wide messages) and at EDM's
(256 x 9, 256-wide messages; ``--sizes`` adds ``mid`` and ``mid-wide``, 1.5M and 2.3M
parameters, either side of the size from which ``fick`` gives a network more than one thread:
fick.pipelines.threads), eager and with ``model.compile`` (torch.compile of the EGNN
layers; by default at the shipped size only, ``--compiled-sizes`` for more), on two kinds
of molecules:

- ``qm9``: real QM9 molecules (EDM's training split in its order; 9-29 atoms with H), 100 per
  forward pass, 64 per training step;
- ``moses``: MOSES-sized molecules (24-55 atoms): atom counts of the prepared MOSES3D test split
  when it is in the cache, else drawn uniformly from 24-55, with random positions and QM9
  elements (the network's cost depends on the counts only); 25 per forward pass and 16 per
  training step, about as many atom pairs as the QM9 batches.

Every variant is timed once per repeat, all variants interleaved (the order rotates), and the
table gives the median wall time of each and the ratios of medians. Inductor specialises its
kernels to the thread count, so a compiled variant compiles at its first call at each thread
count (the warm-up; minutes on a small machine, fewer the second time: its graph cache); the
section gives the first call's time. A torch.profiler table of the top
ops by self CPU time follows for each size (eager, 1 thread, quiet). The section goes into
BENCHMARKS.md ("molecules-threads"). Threads wait passively at the end of each op, as in the
``fick`` CLI (fick.pipelines.threads); ``OMP_WAIT_POLICY=ACTIVE python -m benchmarks.molecules_
threads`` times spinning waits instead. ``--quick`` (eager, 2 repeats, quarter batches) is a smoke
test of about a minute.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

from fick.pipelines.threads import prefer_passive_waiting

prefer_passive_waiting()  # as the fick CLI does: before torch loads its OpenMP runtime
import torch  # noqa: E402

from benchmarks._sections import (  # noqa: E402
    add_output_arguments,
    command_line,
    publish,
    run,
    script_parser,
    utc_stamp,
)

__all__ = ["BusyCore", "Variant", "main", "moses_sized_counts", "rotated"]

CONFIG = "configs/molecules/qm9-sc.yaml"
SIZES = {
    "shipped": [],  # the config's own: 128 x 6, edge 32, messages 64
    "edm": ["model.hidden=256", "model.layers=9", "model.message_dim=256"],
    # either side of fick.pipelines.threads.PARALLEL_MIN_PARAMETERS (2M), to check it
    "mid": ["model.hidden=192", "model.layers=8", "model.message_dim=128"],
    "mid-wide": ["model.hidden=192", "model.layers=9", "model.message_dim=192"],
    "tiny": ["model.hidden=16", "model.layers=2", "model.message_dim=8", "model.edge_hidden=8"],
}
SIZE_LABEL = {"shipped": "128 x 6 (shipped)", "edm": "256 x 9, 256-wide messages (EDM)",
              "tiny": "16 x 2 (tiny)", "mid": "192 x 8, 128-wide messages (1.5M)",
              "mid-wide": "192 x 9, 192-wide messages (2.3M)"}
BATCHES = {"qm9": (100, 64), "moses": (25, 16)}  # molecules per forward pass, per training step
MOSES_ATOMS = (24, 55)
QM9_ATOMS = (9, 29)
BUSY_LOOP = "while True: pass"


@dataclass(frozen=True)
class Variant:
    """One timed call: network size, molecules, workload, eager or compiled."""

    size: str
    molecules: str
    workload: str  # forward | train
    compiled: bool


def rotated(items: list, k: int) -> list:
    """``items`` started at position ``k`` (the interleaving order of repeat ``k``)."""
    k %= max(len(items), 1)
    return items[k:] + items[:k]


class BusyCore(contextlib.AbstractContextManager):
    """A competing process (a busy Python loop) while inside; ``enabled=False``: none."""

    def __init__(self, enabled: bool = True):
        self.enabled, self.process = enabled, None

    def __enter__(self):
        if self.enabled:
            self.process = subprocess.Popen([sys.executable, "-c", BUSY_LOOP])
            time.sleep(0.2)  # let it reach its loop
        return self

    def __exit__(self, *exc):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        return False


def moses_sized_counts(n: int, generator: torch.Generator) -> tuple[list[int], str]:
    """``n`` atom counts in 24-55: the prepared MOSES3D test split's (in its order) when
    present, else uniform draws; and which of the two it was."""
    lo, hi = MOSES_ATOMS
    try:
        from fick.domains.molecules.data.moses3d_dataset import load_moses3d

        counts = load_moses3d("test")[0].num_atoms()
    except Exception:  # noqa: BLE001 - not prepared (a FickError) or unreadable: synthesise
        counts = torch.zeros(0, dtype=torch.long)
    counts = counts[(counts >= lo) & (counts <= hi)]
    if len(counts) >= n:
        return counts[:n].tolist(), "MOSES3D test split's atom counts"
    return torch.randint(lo, hi + 1, (n,), generator=generator).tolist(), \
        f"atom counts drawn uniformly from {lo}-{hi}"


def _synthetic(counts: list[int], generator: torch.Generator) -> list:
    """Molecule records of the given atom counts: random positions, QM9 elements, a chain of
    single bonds."""
    from fick.domains.molecules.data.records import make_record

    records = []
    for n in counts:
        pos = torch.randn(n, 3, generator=generator) * 1.2 * n ** (1 / 3)
        types = torch.randint(0, 5, (n,), generator=generator)
        chain = torch.stack([torch.arange(n - 1), torch.arange(1, n)])
        records.append(make_record(pos, types, torch.zeros(n, dtype=torch.long), chain,
                                   torch.ones(n - 1, dtype=torch.long), y=torch.zeros(6)))
    return records


def molecule_sets(scale: float, synthetic_qm9: bool, seed: int = 0) -> tuple[dict, dict]:
    """{molecules: (forward batch, training batch)} and {molecules: how they were made}."""
    from fick.domains.molecules.data.records import collate

    g = torch.Generator().manual_seed(seed)
    sizes = {k: (max(2, round(f * scale)), max(2, round(t * scale))) for k, (f, t) in
             BATCHES.items()}
    n_qm9 = max(sizes["qm9"])
    if synthetic_qm9:
        qm9 = _synthetic(torch.randint(QM9_ATOMS[0], QM9_ATOMS[1] + 1, (n_qm9,),
                                       generator=g).tolist(), g)
        qm9_how = f"synthetic, atom counts uniform in {QM9_ATOMS[0]}-{QM9_ATOMS[1]}"
    else:
        from fick.domains.molecules.data.qm9 import load_qm9_split

        qm9 = load_qm9_split("train", limit=n_qm9)[0].records()
        qm9_how = "real QM9 molecules (first of EDM's training split)"
    counts, moses_how = moses_sized_counts(max(sizes["moses"]), g)
    moses = _synthetic(counts, g)
    sets, how = {}, {"qm9": qm9_how, "moses": moses_how}
    for name, records in (("qm9", qm9), ("moses", moses)):
        f, t = sizes[name]
        sets[name] = (collate(records[:f]), collate(records[:t]))
    return sets, how


def _info() -> dict:
    from fick.domains.molecules.data.qm9 import QM9_ELEMENTS

    return {"elements": QM9_ELEMENTS, "charges": [-1, 0, 1], "bond_types": [1, 2, 3],
            "num_atoms_hist": [0] * 9 + [1] * 47, "properties": [], "property_mean": {},
            "property_mad": {}}


def build_task(size: str, compiled: bool, seed: int = 0):
    """The task of configs/molecules/qm9-sc.yaml at ``size``, its Adam optimiser."""
    from fick.pipelines import config as config_mod

    cfg, plugin = config_mod.load_config(CONFIG, [*SIZES[size], f"model.compile={compiled}"])
    torch.manual_seed(seed)
    task = plugin.build_task(cfg.task, cfg.model, _info(), None)
    return task, torch.optim.Adam(task.parameters(), lr=1e-5)


def forward_call(task, batch):
    """The denoiser's no-grad forward pass on noisy molecules at a mid noise level."""
    state, _, graph = task.codec.encode(batch)
    g = torch.Generator().manual_seed(0)
    x_t = {k: v + torch.randn(v.shape, generator=g) for k, v in state.items()}
    x_t["pos"] = x_t["pos"] - x_t["pos"].mean(0)  # close enough to zero-CoM for timing
    level = torch.full((graph.num_graphs,), 0.5)

    def call(repeat: int):
        with torch.no_grad():
            task.denoiser(x_t, level, graph)

    return call


def train_call(task, optimizer, batch):
    def call(repeat: int):
        torch.manual_seed(1000 + repeat)  # same noise, times and self-conditioning draw
        optimizer.zero_grad(set_to_none=True)
        loss, _ = task.loss(batch)
        loss.backward()
        optimizer.step()

    return call


def _configure_compile() -> None:
    """Room for every compiled graph of the run: (size, grad mode, thread count) each."""
    import torch._dynamo.config

    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 32)


def measure(calls: dict, threads: list[int], loads: list[str], repeats: int
            ) -> tuple[dict, dict]:
    """{(variant, threads, load): [seconds per repeat]}, every combination once per repeat,
    interleaved, after one warm-up call of each variant at each thread count; and
    {variant: seconds of its first call} (compilation, for compiled variants)."""
    first: dict = {}
    for t in threads:
        torch.set_num_threads(t)
        for variant, call in calls.items():
            t0 = time.perf_counter()
            call(-1)
            first.setdefault(variant, time.perf_counter() - t0)
            print(f"  warm-up {variant} at {t} thread(s): {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr, flush=True)
    times: dict = {}
    order = list(calls)
    for r in range(repeats):
        for load in rotated(loads, r):
            with BusyCore(load == "busy"):
                for t in rotated(threads, r):
                    torch.set_num_threads(t)
                    for variant in rotated(order, r):
                        t0 = time.perf_counter()
                        calls[variant](r)
                        times.setdefault((variant, t, load), []).append(
                            time.perf_counter() - t0)
        print(f"  repeat {r + 1}/{repeats} done", file=sys.stderr, flush=True)
    return times, first


def profile_table(call, rows: int) -> str:
    """The top ``rows`` ops of one call by self CPU time (torch.profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        call(0)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def table(times: dict, variants: list[Variant], threads: list[int], loads: list[str],
          fallen_back: set) -> str:
    med = {k: statistics.median(v) for k, v in times.items()}
    head = ["network", "molecules", "work", "mode"]
    for load in loads:
        head += [f"{t} thr, {load} (s)" for t in threads]
        head += [f"{threads[0]}->{t} thr speed-up, {load}" for t in threads[1:]]
    head += [f"compiled vs eager, {threads[0]} thr {loads[0]}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * 4 + "---:|" * (len(head) - 4)]
    for v in variants:
        mode = "compiled" if v.compiled else "eager"
        if v in fallen_back:
            mode = "eager (compile failed)"
        row = [SIZE_LABEL[v.size], v.molecules, v.workload, mode]
        for load in loads:
            row += [f"{med[(v, t, load)]:.3f}" for t in threads]
            row += [f"{med[(v, threads[0], load)] / med[(v, t, load)]:.2f}x" for t in threads[1:]]
        eager = Variant(v.size, v.molecules, v.workload, False)
        key = (threads[0], loads[0])
        row.append(f"{med[(eager, *key)] / med[(v, *key)]:.2f}x" if v.compiled and
                   (eager, *key) in med else "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = script_parser(__doc__, "benchmarks.molecules_threads")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: eager only, 2 repeats, quarter batches (~1 minute)")
    parser.add_argument("--sizes", nargs="+", choices=sorted(SIZES), default=["shipped", "edm"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--loads", nargs="+", choices=["quiet", "busy"],
                        default=["quiet", "busy"])
    parser.add_argument("--modes", nargs="+", choices=["eager", "compiled"], default=None,
                        help="default: eager and compiled (eager only with --quick)")
    parser.add_argument("--compiled-sizes", nargs="+", choices=sorted(SIZES),
                        default=["shipped", "tiny"],
                        help="sizes also timed compiled (default: the shipped one, whose config "
                        "compiles; each size compiles for minutes on a small machine)")
    parser.add_argument("--repeats", type=int, default=None, help="default 4 (2 with --quick)")
    parser.add_argument("--profile-rows", type=int, default=12)
    parser.add_argument("--synthetic-qm9", action="store_true",
                        help="QM9-sized random molecules instead of real QM9 (tests)")
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    modes = args.modes or (["eager"] if args.quick else ["eager", "compiled"])
    repeats = args.repeats or (2 if args.quick else 4)
    scale = 0.25 if args.quick else 1.0
    t_start = time.perf_counter()
    sets, how = molecule_sets(scale, args.synthetic_qm9)
    if "compiled" in modes:
        _configure_compile()
    calls, tasks, variants = {}, {}, []
    for size in args.sizes:
        for mode in modes:
            if mode == "compiled" and size not in args.compiled_sizes:
                continue
            task, opt = tasks[(size, mode)] = build_task(size, mode == "compiled")
            for molecules, (fwd_batch, train_batch) in sets.items():
                for workload in ("forward", "train"):
                    v = Variant(size, molecules, workload, mode == "compiled")
                    variants.append(v)
                    calls[v] = (forward_call(task, fwd_batch) if workload == "forward"
                                else train_call(task, opt, train_batch))
    times, first = measure(calls, args.threads, args.loads, repeats)
    fallen_back = {v for v in variants
                   if v.compiled and not tasks[(v.size, "compiled")][0].denoiser.backbone.compile}
    torch.set_num_threads(args.threads[0])
    profiles = []
    for size in args.sizes:
        for workload in ("forward", "train"):
            v = Variant(size, "qm9", workload, False)
            if v in calls:
                profiles.append(f"<details><summary>{SIZE_LABEL[size]}, {workload}, QM9, eager,"
                                f" {args.threads[0]} thread: top ops by self CPU time</summary>"
                                f"\n\n```\n{profile_table(calls[v], args.profile_rows)}```\n"
                                "</details>")
    compile_note = "".join(
        f" First calls of the compiled {SIZE_LABEL[size]} network (compilation, "
        f"{args.threads[0]} thread): forward {first[Variant(size, 'qm9', 'forward', True)]:.0f}"
        f" s, training step {first[Variant(size, 'qm9', 'train', True)]:.0f} s."
        for size in args.sizes if Variant(size, "qm9", "forward", True) in first)
    (qf, qt), (mf, mt) = (tuple(int(b.num_graphs) for b in sets[k]) for k in ("qm9", "moses"))
    body = (
        "### Molecules: the EGNN at 1 and 2 threads, quiet and with a busy core\n\n"
        f"`{command_line('molecules_threads', argv)}` on {utc_stamp()}, torch "
        f"{torch.__version__}, OpenMP wait policy "
        f"{os.environ.get('OMP_WAIT_POLICY', 'unset')}, {repeats} interleaved repeats, "
        f"{time.perf_counter() - t_start:.0f} s in all. Median wall time of one denoiser "
        f"forward pass (no grad; {qf} QM9 / {mf} "
        f"MOSES-sized molecules) and of one training step (loss, backward, Adam; {qt} / {mt} "
        f"molecules), config {CONFIG} at each size. QM9: {how['qm9']}; MOSES-sized: "
        f"{how['moses']}. \"busy\": a busy Python loop that this script ran beside the "
        "measurement (one other core taken). Speed-up = median time at 1 thread / at N threads;"
        " compiled: torch.compile of the EGNN layers (inductor)."
        + compile_note + "\n\n"
        + table(times, variants, args.threads, args.loads, fallen_back) + "\n\n"
        + "\n\n".join(profiles)
    )
    publish(args, "molecules-threads", body)
    return 0


if __name__ == "__main__":
    run(main)
