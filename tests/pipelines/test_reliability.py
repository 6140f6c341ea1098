"""Reliability of ``fick sample`` in one process: arguments refused before a model loads,
unique default folders, outputs that appear whole or not at all, honest progress bars."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
import toy_plugin
from conftest import run_cli
from fick.domains.base import FickError
from fick.pipelines import modelio, sampling
from fick.pipelines.cli import _default_out


def _toy_model(task=None) -> modelio.LoadedModel:
    info = {"centres": toy_plugin.ring_centres(4, 2.0).tolist(), "std": 0.1}
    task = task or toy_plugin.ToyDiffusion(toy_plugin.ToyModel(hidden=8, steps=3), info)
    return modelio.LoadedModel(
        task=task.eval(), plugin=toy_plugin.plugin, domain="toy", task_name="diffusion",
        info=info, config={}, source="toy-model",
    )


@pytest.fixture
def loads(monkeypatch):
    """Every model reference loads a fresh toy model; the references asked for are recorded."""
    asked: list[str] = []

    def load(ref, **kwargs):
        asked.append(str(ref))
        return _toy_model()

    monkeypatch.setattr(modelio, "load", load)
    monkeypatch.setattr(modelio, "load_dir", lambda path, **kw: load(path))
    return asked


@pytest.mark.parametrize(
    "argv, says",
    [
        (["sample", "qm9", "-n", "0"], "-n must be a positive whole number, got 0"),
        (["sample", "qm9", "-n", "-4"], "-n must be a positive whole number, got -4"),
        (["sample", "qm9", "--steps", "0"], "--steps must be a positive whole number"),
        (["sample", "qm9", "--steps", "-10"], "--steps must be a positive whole number"),
        (["sample", "qm9", "--batch-size", "0"], "--batch-size must be a positive"),
        (["sample", "qm9", "--guidance", "-1"], "--guidance must be a finite number >= 0"),
        (["sample", "qm9", "--guidance", "nan"], "--guidance must be a finite number >= 0"),
        (["sample", "qm9", "--devices", "0"], "--devices must be at least 1"),
        (["sample", "qm9", "--condition", "label"], "--condition 'label' is not KEY=VALUE"),
        (["sample", "qm9", "--fix", "no/such.sdf"], "--fix no/such.sdf: no such file"),
        (["sample", "qm9", "--out", "a-file.txt"], "--out a-file.txt is a file"),
        (["evaluate", "qm9", "-n", "0"], "-n must be a positive whole number, got 0"),
        (["demo", "-n", "0"], "-n must be a positive whole number, got 0"),
    ],
)
def test_bad_arguments_are_refused_before_any_model_loads(workdir, capsys, loads, argv, says):
    (workdir / "a-file.txt").write_text("not a folder")
    extra = [] if argv[0] == "demo" else ["--no-track"]
    assert run_cli(*argv, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fick: error: ") and "\n" not in err, err
    assert says in err, err
    assert loads == [], "the model was loaded before the arguments were checked"


def test_a_bad_argument_is_refused_before_torch_is_even_imported(workdir):
    # importing torch alone takes seconds on a loaded machine: `-n 0` took 11.6 s to refuse
    probe = (
        "import sys; from fick.pipelines.cli import main; "
        "code = main(['sample', 'qm9', '-n', '0']); print(code, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.split() == ["2", "False"], done.stdout + done.stderr
    assert done.stderr.strip() == "fick: error: -n must be a positive whole number, got 0"


def test_default_output_folders_are_unique_within_one_second(workdir):
    made: list[Path] = []
    start = threading.Barrier(8)

    def make():
        start.wait()  # all eight ask in the same instant, as eight commands started together
        made.append(_default_out("runs:/0123/model"))

    threads = [threading.Thread(target=make) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len({p.resolve() for p in made}) == 8
    assert all(p.is_dir() and p.parent == Path("outputs/samples") for p in made)
    assert all(re.fullmatch(r"runs_0123_model-\d{8}-\d{6}(-\d+)?", p.name) for p in made)


def test_two_samplings_without_out_never_share_a_folder(workdir, loads, capsys):
    assert run_cli("sample", "toy", "-n", "3", "--no-track") == 0
    assert run_cli("sample", "toy", "-n", "3", "--no-track") == 0
    folders = sorted(Path("outputs/samples").iterdir())
    assert len(folders) == 2
    for folder in folders:
        assert len((folder / "sample.csv").read_text().split()) == 3


class _InterruptedExport(toy_plugin.ToyDiffusion):
    """Writes half of its CSV, then is interrupted (Ctrl-C / a kill in the middle)."""

    def export(self, samples, out_dir, prefix="sample"):
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(out_dir / f"{prefix}.csv", "w") as f:
            f.write("0.5,0.25\n")  # a well-formed first line of a file that never ends
            f.flush()
            raise KeyboardInterrupt


def test_an_interrupted_export_leaves_no_file_that_looks_complete(workdir, monkeypatch, capsys):
    info = {"centres": toy_plugin.ring_centres(4, 2.0).tolist(), "std": 0.1}
    task = _InterruptedExport(toy_plugin.ToyModel(hidden=8, steps=3), info)
    monkeypatch.setattr(modelio, "load", lambda ref, **kw: _toy_model(task))
    out = workdir / "out"
    assert run_cli("sample", "toy", "-n", "4", "--out", out, "--no-track") == 130
    assert "fick: interrupted" in capsys.readouterr().err
    assert list(out.rglob("*")) == []  # no half CSV, no manifest
    assert [p.name for p in workdir.iterdir() if "partial" in p.name] == []  # staging removed


def test_a_whole_export_lands_in_the_folder_with_its_manifest_last(workdir, loads, capsys):
    out = workdir / "nested" / "out"
    assert run_cli("sample", "toy", "-n", "5", "--out", out, "--no-track") == 0
    printed = capsys.readouterr().out.split()
    assert str(out / "sample.csv") in printed  # the path reported is the final one
    assert sorted(p.name for p in out.iterdir()) == ["fick-samples.yaml", "sample.csv"]
    assert len((out / "sample.csv").read_text().split()) == 5
    assert [p.name for p in out.parent.iterdir()] == ["out"]


def test_atomic_text_write_keeps_the_old_file_when_interrupted(tmp_path, monkeypatch):
    path = tmp_path / "fick-samples.yaml"
    path.write_text("old: complete\n")

    def cut(self, text, *a, **k):
        Path.write_bytes(self, text[:3].encode())
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", cut)
    with pytest.raises(KeyboardInterrupt):
        sampling.write_text_atomically(path, "new: complete\n")
    monkeypatch.undo()
    assert path.read_text() == "old: complete\n"
    assert [p.name for p in tmp_path.iterdir()] == ["fick-samples.yaml"]


class _Reporting(toy_plugin.ToyDiffusion):
    """Reports ``steps + 1`` steps of ``steps`` (a final denoising step), or none at all, or
    fails half-way."""

    report = "overshoot"

    def sample(self, n, *, progress=None, **kwargs):
        steps = 4
        for i in range(steps + 1):
            if progress is not None and self.report != "silent":
                progress(i + 1, steps)
            if self.report == "fail" and i == 1:
                raise FickError("the sampler diverged")
        return [torch.zeros(2) for _ in range(n)]


class _RecordingBar:
    """A tqdm bar drawn into a string that remembers every (n, total) it showed."""

    made: list = []

    def __init__(self, **kwargs):
        from tqdm import tqdm

        self.bar = tqdm(file=io.StringIO(), **kwargs)
        self.desc, self.shown, self.closed = kwargs.get("desc"), [], False
        self.started = self.bar.start_t
        _RecordingBar.made.append(self)

    def __getattr__(self, name):
        return getattr(self.bar, name)

    def __setattr__(self, name, value):
        if name in ("n", "total"):
            setattr(self.bar, name, value)
        else:
            object.__setattr__(self, name, value)

    def refresh(self):
        self.shown.append((self.bar.n, self.bar.total, self.bar._time()))
        self.bar.refresh()

    def update(self, k):
        self.bar.update(k)
        self.shown.append((self.bar.n, self.bar.total, self.bar._time()))

    def close(self):
        self.closed = True
        self.bar.close()


@pytest.fixture
def bars(monkeypatch):
    import tqdm.auto

    _RecordingBar.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", _RecordingBar)
    return _RecordingBar.made


def _reporting_model(report: str) -> modelio.LoadedModel:
    model = _toy_model()
    task = _Reporting(model.task.cfg, model.info)
    task.report = report
    model.task = task.eval()
    return model


def test_each_shard_has_its_own_bar_that_never_passes_the_total(tmp_path, bars):
    sampling.draw(_reporting_model("overshoot"), 6, tmp_path / "o", shard_size=3)
    assert [b.desc for b in bars] == ["sampling shard 1/2", "sampling shard 2/2"]
    for bar in bars:
        assert bar.closed
        assert all(n <= total == 4 for n, total, _ in bar.shown), bar.shown
        assert bar.shown[-1][:2] == (4, 4)
    # shard 2's clock starts when shard 2 starts, not when shard 1 did
    assert bars[1].started >= bars[0].shown[-1][2]


def test_a_task_that_reports_no_steps_draws_no_bar(tmp_path, bars):
    sampling.draw(_reporting_model("silent"), 2, tmp_path / "s")
    assert bars == []  # no stray "sampling: 0step"


def test_an_error_is_printed_on_its_own_line_not_after_the_bar(workdir, monkeypatch, capsys):
    monkeypatch.setattr(modelio, "load", lambda ref, **kw: _reporting_model("fail"))
    assert run_cli("sample", "toy", "-n", "2", "--no-track") == 2
    err = capsys.readouterr().err
    assert "sampling" in err  # the bar was drawn ...
    lines = re.split(r"[\r\n]", err)
    assert any(line.startswith("fick: error: the sampler diverged") for line in lines), repr(err)


def test_a_shard_bar_shows_no_rate_from_reports_microseconds_apart():
    """Two step reports back to back once drew "2/50 ... 220752.84step/s": the rate is timed
    by tqdm over its minimum interval, so such a burst shows no rate yet."""
    import re

    from tqdm import tqdm

    text = io.StringIO()
    progress = sampling._ShardProgress(0, 2, lambda **kw: tqdm(file=text, mininterval=0.1, **kw))
    for done in (1, 2, 3):
        progress(done, 50)
    rates = [float(r) for r in re.findall(r"([\d.]+)step/s", text.getvalue())]
    assert all(r < 1000 for r in rates), text.getvalue()
    progress.close()
