"""The package layout of design.md: every source folder installs under ``fick``."""

import collections
import importlib.util
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_package_is_listed_in_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    found = set()
    for top in ("core", "domains", "pipelines"):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).parts
            found.add(".".join(("fick",) + rel))
    missing = sorted(found - listed)
    assert not missing, f"add these packages to [tool.setuptools] packages: {missing}"


def test_core_imports_nothing_of_fick():
    for path in (ROOT / "core").rglob("*.py"):
        text = path.read_text()
        assert "fick.domains" not in text and "fick.pipelines" not in text, path


def test_test_module_names_are_unique():
    # pytest's default import mode keys test modules by file name: two test_tasks.py in
    # different folders stop the whole collection (it happened in CI)
    names = collections.Counter(
        p.name for p in (ROOT / "tests").rglob("test_*.py")
    )
    assert not [n for n, c in names.items() if c > 1]


@pytest.mark.skipif(shutil.which("ruff", path=str(Path(sys.executable).parent)) is None,
                    reason="ruff is a dev dependency")
def test_ruff_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def _source_copy(dst: Path) -> Path:
    """What a build reads: pyproject, README and the three source folders (no caches)."""
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    dst.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, dst / name)
    for top in ("core", "domains", "pipelines"):
        shutil.copytree(ROOT / top, dst / top, ignore=junk)
    return dst


@pytest.mark.skipif(
    importlib.util.find_spec("setuptools") is None,
    reason="building a wheel without isolation needs setuptools installed",
)
def test_build_is_quiet_and_ships_every_data_file(tmp_path):
    # a fresh clone's `make demo` printed ~220 lines of setuptools warnings before fick spoke
    src = _source_copy(tmp_path / "src")
    out = tmp_path / "wheel"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=600,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "Warning" not in log, log[:3000]
    (wheel,) = out.glob("fick-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    data = {
        "fick/" + p.relative_to(src).as_posix()
        for top in ("core", "domains", "pipelines")
        for p in (src / top).rglob("*")
        if p.is_file() and p.suffix != ".py"
    }
    assert data, "no data files found: the shipped pretrained models are missing"
    assert sorted(data - shipped) == [], "declare these in [tool.setuptools.package-data]"
