"""The package layout of design.md: every source folder installs under ``fick``."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_source_package_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for top in ("core", "domains", "pipelines"):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT).parts
            found.add(".".join(("fick",) + rel))
    missing = found - listed
    assert not missing, f"add these packages to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


def test_core_imports_nothing_of_fick():
    for path in (ROOT / "core").rglob("*.py"):
        text = path.read_text()
        assert "fick.domains" not in text and "fick.pipelines" not in text, path
