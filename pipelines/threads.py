"""How many CPU threads torch runs on, chosen on purpose rather than left to torch's default.

torch starts one intra-op thread per logical CPU it sees. That is wrong twice for fick's
networks on a CPU: a hyperthread sibling adds no arithmetic units, and the networks' ops
(gathers, scatters and matrix products over some 10^4 atom pairs) are mostly too small to split
usefully over threads, while every extra thread is one more to wait for at each op's barrier
when the machine is busy.

The rule depends on the size of the network, known once the config is built or the model
loaded (:func:`threads_for_network`, called by ``fick train`` before fitting and by ``fick
sample`` before drawing): a network of fewer than ``PARALLEL_MIN_PARAMETERS`` (2M) parameters
gets **one** intra-op thread; a larger one the *physical* cores this process may run on (its
CPU affinity, so a container's or ``taskset``'s limit counts), shared out among the processes
of the run (``--devices N`` / ``trainer.devices``) and capped at ``DEFAULT_CAP``. The evidence,
``benchmarks/molecules_threads.py`` on this 2-core machine (BENCHMARKS.md, section
``molecules-threads``; speed at 2 threads over speed at 1):

- the shipped qm9 network (128 x 6, 0.47M parameters): forward 0.99-1.01x quiet and
  0.97-1.02x beside a busy core, a training step 0.74-0.80x quiet (slower) and 0.95-1.01x
  busy; compiled 0.63-0.91x. A second thread never pays, so one it is;
- EDM's size (256 x 9, 256-wide messages, 3.96M parameters): forward 1.30-1.47x quiet, a
  training step 1.24-1.25x quiet, 0.90-1.04x busy. A second thread pays on a quiet machine.

(Ranges over QM9 and MOSES-sized molecules.) No size between the two was measured: the
threshold, 2M, is about half the smallest size seen to gain and above every shipped model
(images 0.78M and 1.34M, audio 0.72M, qm9 0.47M, companions included), whose benchmarks all
ran on one thread; for audio and images it is the molecules' figure, not a measurement of their
own. Work that splits cleanly goes to processes instead (``fick sample --devices N``, DDP;
``benchmarks/molecules_processes.py``).

The user's choice wins over the rule: ``OMP_NUM_THREADS``, when set, and ``--threads N`` over
both; a script that calls fick's functions itself keeps the count it set. Before the network
is known (reading the config, building the data) the count is the large-network one.
Inter-op parallelism (independent ops run side by side) is unused by fick: one inter-op
thread. The count the rule picks is exported as ``OMP_NUM_THREADS`` so that Lightning keeps it
(its launcher sets cores / processes when the variable is unset) and the processes it starts
inherit it; an explicit ``--threads`` is exported too (per process).
Threads that wait at the end of a parallel op sleep instead of spinning (``OMP_WAIT_POLICY=
PASSIVE`` unless the environment sets a policy): with the default spinning, on a machine whose
other cores are busy, a forward pass of the shipped molecule network took 16 s at 2 threads
against 1.2 s at 1 (the spinning thread holds its core while its partner waits for a turn);
passive, 1.3 s. libgomp reads the policy when torch loads it, so ``fick.pipelines`` sets it on
import (:func:`prefer_passive_waiting`), before anything imports torch.
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable
from pathlib import Path

__all__ = [
    "DEFAULT_CAP",
    "PARALLEL_MIN_PARAMETERS",
    "add_thread_option",
    "apply_threads",
    "default_threads",
    "physical_cores",
    "prefer_passive_waiting",
    "threads_for_network",
    "with_threads",
]

# beyond this many intra-op threads the molecule network's ops are too small to gain (a guess
# from op sizes, to be replaced by the benchmark's figure from a machine with more cores)
DEFAULT_CAP = 8
# networks smaller than this run on one intra-op thread (see the module docstring's evidence)
PARALLEL_MIN_PARAMETERS = 2_000_000

# whether the size rule is fick's to apply: only inside a `fick train` / `fick sample` command
# that neither --threads nor OMP_NUM_THREADS decided (a library caller's torch.set_num_threads
# is left alone)
_rule_applies = False
# the OMP_NUM_THREADS value threads_for_network exported itself: not a choice of the user's,
# so a later command in the same process decides afresh
_exported_by_rule: str | None = None


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


def _users_threads(environ) -> int | None:
    """``OMP_NUM_THREADS`` as a positive integer when the user set it, else None."""
    value = environ.get("OMP_NUM_THREADS", "").strip()
    if environ is os.environ and value == _exported_by_rule:
        return None
    return int(value) if value.isdigit() and int(value) > 0 else None


def default_threads(environ: dict[str, str] | None = None, parameters: int | None = None,
                    processes: int = 1) -> int:
    """``OMP_NUM_THREADS`` when set (a positive integer); else 1 for a network of
    ``parameters`` < ``PARALLEL_MIN_PARAMETERS``; else (or with the size unknown) the
    physical cores shared among ``processes``, at least 1 and at most ``DEFAULT_CAP``."""
    environ = os.environ if environ is None else environ
    users = _users_threads(environ)
    if users is not None:
        return users
    if parameters is not None and parameters < PARALLEL_MIN_PARAMETERS:
        return 1
    return max(1, min(physical_cores() // max(processes, 1), DEFAULT_CAP))


def apply_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads (``threads``, or the default) and one inter-op thread;
    returns the count. Call it before the first parallel op: torch refuses to change the
    inter-op pool once it has started, which is then left as it is."""
    import torch
    from fick.domains.base import FickError

    if threads is not None and threads < 1:
        raise FickError(f"--threads {threads}: give a positive number of threads")
    global _exported_by_rule, _rule_applies
    if threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # processes started from here, per process
        _exported_by_rule = None  # the user's now
    _rule_applies = threads is None and _users_threads(os.environ) is None
    count = default_threads() if threads is None else threads
    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already started (fick called as a library after torch work)
        pass
    return count


def threads_for_network(network, processes: int = 1) -> int:
    """Inside a command that left the count to fick (see :func:`with_threads`): the intra-op
    threads for ``network`` (a torch module) run in ``processes`` processes on this machine,
    :func:`default_threads` of its parameter count, set now and exported as
    ``OMP_NUM_THREADS``. Elsewhere the count stays as it is. Call it once the network is built
    and before its first op (inductor compiles for the thread count it sees); returns the
    count torch now runs on."""
    import torch

    global _exported_by_rule
    if not _rule_applies:
        return torch.get_num_threads()
    parameters = sum(p.numel() for p in network.parameters())
    count = default_threads(parameters=parameters, processes=processes)
    # exported: Lightning's launcher would otherwise set cores / processes, here and in the
    # processes it starts, and those inherit it
    _exported_by_rule = os.environ["OMP_NUM_THREADS"] = str(count)
    torch.set_num_threads(count)
    return count


def add_thread_option(parser: argparse.ArgumentParser) -> None:
    """``--threads N`` on a command's parser."""
    parser.add_argument(
        "--threads", type=int, metavar="N", default=None,
        help="CPU threads for torch per process (default: OMP_NUM_THREADS if set, else 1 for a "
        f"network under {PARALLEL_MIN_PARAMETERS / 1e6:g}M parameters, which a second thread "
        f"does not speed up, and the physical cores available, at most {DEFAULT_CAP}, for a "
        "larger one)",
    )


def with_threads(command: Callable) -> Callable:
    """``command(args)`` run after applying ``args.threads`` (see :func:`apply_threads`); the
    size rule of :func:`threads_for_network` applies during the command only."""

    @functools.wraps(command)
    def run(args):
        global _rule_applies
        apply_threads(getattr(args, "threads", None))
        try:
            return command(args)
        finally:
            _rule_applies = False

    return run
