"""benchmarks/molecules_threads.py: its busy core really competes and is stopped, its MOSES-
sized molecules are in range, the interleaving rotates, and the quick mode at tiny size writes
a table with every thread count and load and a profiler table into its section."""

import time

import torch

from benchmarks.molecules_threads import (
    MOSES_ATOMS,
    BusyCore,
    main,
    molecule_sets,
    moses_sized_counts,
    rotated,
)


def test_busy_core_burns_cpu_while_inside_and_is_gone_after():
    import psutil

    with BusyCore() as busy:
        proc = psutil.Process(busy.process.pid)
        start = sum(proc.cpu_times()[:2])
        deadline = time.monotonic() + 10  # a loaded machine gives it a share of a core only
        while sum(proc.cpu_times()[:2]) - start < 0.05 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sum(proc.cpu_times()[:2]) - start >= 0.05
    assert busy.process.poll() is not None  # stopped and reaped
    with BusyCore(enabled=False) as idle:
        assert idle.process is None


def test_moses_sized_counts_are_in_range_and_batches_have_the_sizes_asked():
    counts, _ = moses_sized_counts(40, torch.Generator().manual_seed(0))
    assert len(counts) == 40 and all(MOSES_ATOMS[0] <= n <= MOSES_ATOMS[1] for n in counts)
    sets, how = molecule_sets(0.1, synthetic_qm9=True)
    assert [int(b.num_graphs) for b in sets["qm9"]] == [10, 6]
    assert int(sets["moses"][0].num_atoms.min()) >= MOSES_ATOMS[0]
    assert "synthetic" in how["qm9"]


def test_rotated_order():
    assert [rotated([1, 2, 3], k) for k in range(4)] == [[1, 2, 3], [2, 3, 1], [3, 1, 2],
                                                          [1, 2, 3]]


def test_quick_mode_at_tiny_size_writes_its_section(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    threads = torch.get_num_threads()
    try:
        assert main(["--quick", "--sizes", "tiny", "--synthetic-qm9", "--repeats", "1",
                     "--benchmarks", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    text = out.read_text()
    assert "<!-- molecules-threads:begin -->" in text
    rows = [line for line in text.splitlines() if line.startswith("| 16 x 2 (tiny)")]
    assert len(rows) == 4  # qm9 / moses x forward / train
    assert "1 thr, busy (s)" in text and "1->2 thr speed-up, quiet" in text
    for row in rows:
        seconds = [float(c) for c in row.strip("|").split("|")[4:6]]
        assert all(s > 0 for s in seconds)
    assert text.count("top ops by self CPU time") == 2 and "Self CPU time total" in text
