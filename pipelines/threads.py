"""How many CPU threads torch runs on, chosen on purpose rather than left to torch's default.

torch starts one intra-op thread per logical CPU it sees. That is wrong twice for fick's
networks on a CPU: a hyperthread sibling adds no arithmetic units, and the networks' ops
(gathers, scatters and matrix products over some 10^4 atom pairs) are too small to split
usefully over many threads, while every extra thread is one more to wait for at each op's
barrier when the machine is busy. ``benchmarks/molecules_threads.py`` measures the gain of a
second thread (``--threads 1 2 4 ...`` measures more on a larger machine).

The default is the number of *physical* cores this process may run on (its CPU affinity, so a
container's or ``taskset``'s limit counts), capped at ``DEFAULT_CAP``; ``OMP_NUM_THREADS``,
when set, is the user's choice and wins over that default; ``--threads N`` wins over both.
Inter-op parallelism (independent ops run side by side) is unused by fick: one inter-op thread.
Threads that wait at the end of a parallel op sleep instead of spinning (``OMP_WAIT_POLICY=
PASSIVE`` unless the environment sets a policy): with the default spinning, on a machine whose
other cores are busy, a forward pass of the shipped molecule network took 16 s at 2 threads
against 1.2 s at 1 (the spinning thread holds its core while its partner waits for a turn);
passive, 1.3 s. libgomp reads the policy when torch loads it, so ``fick.pipelines`` sets it on
import (:func:`prefer_passive_waiting`), before anything imports torch.
Processes that Lightning starts (``--devices N`` on CPUs) share the cores out themselves when
``OMP_NUM_THREADS`` is unset; an explicit ``--threads`` is exported to them (per process).
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "DEFAULT_CAP",
    "add_thread_option",
    "apply_threads",
    "default_threads",
    "physical_cores",
    "prefer_passive_waiting",
    "with_threads",
]

# beyond this many intra-op threads the molecule network's ops are too small to gain (a guess
# from op sizes, to be replaced by the benchmark's figure from a machine with more cores)
DEFAULT_CAP = 8


def prefer_passive_waiting(environ=None) -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless a policy is set; effective only before torch loads
    its OpenMP runtime (the first ``import torch`` of the process)."""
    (os.environ if environ is None else environ).setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _allowed_cpus() -> set[int]:
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return set(range(os.cpu_count() or 1))


def physical_cores(cpus: set[int] | None = None, sysfs: Path = Path("/sys/devices/system/cpu")
                   ) -> int:
    """Physical cores among the logical CPUs ``cpus`` (default: this process's affinity):
    hyperthread siblings counted once, from sysfs topology; the logical count where sysfs
    does not say."""
    cpus = _allowed_cpus() if cpus is None else cpus
    cores = set()
    for cpu in cpus:
        topology = sysfs / f"cpu{cpu}" / "topology"
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return max(len(cpus), 1)
        cores.add((package, core))
    return max(len(cores), 1)


def default_threads(environ: dict[str, str] | None = None) -> int:
    """``OMP_NUM_THREADS`` when set (a positive integer), else min(physical cores, cap)."""
    environ = os.environ if environ is None else environ
    value = environ.get("OMP_NUM_THREADS", "").strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    return min(physical_cores(), DEFAULT_CAP)


def apply_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads (``threads``, or the default) and one inter-op thread;
    returns the count. Call it before the first parallel op: torch refuses to change the
    inter-op pool once it has started, which is then left as it is."""
    import torch
    from fick.domains.base import FickError

    if threads is not None and threads < 1:
        raise FickError(f"--threads {threads}: give a positive number of threads")
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # processes started from here, per process
    count = default_threads() if threads is None else threads
    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already started (fick called as a library after torch work)
        pass
    return count


def add_thread_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` on a command's parser."""
    parser.add_argument(
        "--threads", type=int, metavar="N", default=None,
        help="CPU threads for torch (default: OMP_NUM_THREADS if set, else the physical cores "
        f"available, at most {DEFAULT_CAP})",
    )


def with_threads(command: Callable) -> Callable:
    """``command(args)`` run after applying ``args.threads`` (see :func:`apply_threads`)."""

    @functools.wraps(command)
    def run(args):
        apply_threads(getattr(args, "threads", None))
        return command(args)

    return run
