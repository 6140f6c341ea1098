"""The package layout of design.md: every source folder installs under ``fick``."""

import collections
import shutil
import subprocess
import sys
import tomllib
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
