"""The direction of dependencies of design.md, read from the source with ``ast``: ``core``
imports nothing of fick and no library but torch and the standard library; a domain
(``domains/<d>/``) imports no other domain and nothing of ``fick.pipelines``; ``pipelines``
names no domain, neither by import nor by a string that picks one."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"core": "fick.core", "domains": "fick.domains", "pipelines": "fick.pipelines"}
DOMAINS = sorted(p.parent.name for p in (ROOT / "domains").glob("*/__init__.py"))
# what core imports today besides the standard library; adding a library is a design decision
CORE_LIBRARIES = {"torch"}
MODULE_PATH = re.compile(r"fick\.domains\.(\w+)\b")


def _module_name(path: Path) -> str:
    """``domains/images/video/tasks.py`` -> ``fick.domains.images.video.tasks``."""
    top, *rest = path.relative_to(ROOT).with_suffix("").parts
    parts = [PACKAGES[top], *rest]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``; ``from P import n`` gives both
    ``P`` and ``P.n`` (``n`` may be a submodule), relative imports are resolved."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names
                      if alias.name != "*"]
    return found


def _sources(top: str) -> list[Path]:
    return sorted((ROOT / top).rglob("*.py"))


def _where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def _report(bad: list[str]) -> str:
    """One line per offending import statement (``from P import a, b`` yields P, P.a, P.b)."""
    first: dict[str, str] = {}
    for message in bad:
        first.setdefault(message.split(" ", 1)[0], message)
    return "\n".join(first.values())


def _domain_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] == ["fick", "domains"] and len(parts) > 2 and parts[2] in DOMAINS:
        return parts[2]
    return None


def test_the_domains_are_found():
    assert {"audio", "images", "molecules"} <= set(DOMAINS)


def test_core_imports_only_torch_and_the_standard_library():
    bad = []
    for path in _sources("core"):
        for line, name in _imports(path):
            top = name.split(".")[0]
            if name == "fick.core" or name.startswith("fick.core."):
                continue
            if top == "fick" or top not in sys.stdlib_module_names | CORE_LIBRARIES:
                bad.append(f"{_where(path, line)} imports {name}")
    assert not bad, "core may import only torch and the standard library:\n" + _report(bad)


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domain_imports_no_other_domain_and_no_pipelines(domain):
    bad = []
    for path in _sources(f"domains/{domain}"):
        for line, name in _imports(path):
            other = _domain_of(name)
            if name == "fick.pipelines" or name.startswith("fick.pipelines."):
                bad.append(f"{_where(path, line)} imports {name}")
            elif other is not None and other != domain:
                bad.append(f"{_where(path, line)} imports the {other} domain ({name})")
    assert not bad, f"the {domain} domain reaches outside itself:\n" + _report(bad)


def test_domain_level_modules_import_no_pipelines():
    bad = [
        f"{_where(path, line)} imports {name}"
        for path in sorted((ROOT / "domains").glob("*.py"))
        for line, name in _imports(path)
        if name == "fick.pipelines" or name.startswith("fick.pipelines.")
    ]
    assert not bad, _report(bad)


def test_pipelines_name_no_domain():
    bad = []
    for path in _sources("pipelines"):
        for line, name in _imports(path):
            if _domain_of(name):
                bad.append(f"{_where(path, line)} imports {name}")
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value.strip()
                named = MODULE_PATH.fullmatch(text.split(":")[0])
                if text in DOMAINS or (named and named.group(1) in DOMAINS):
                    bad.append(f"{_where(path, node.lineno)} names a domain: {text!r}")
    assert not bad, "pipelines reach domains only through the registry:\n" + _report(bad)


def test_the_rules_see_relative_and_submodule_imports(tmp_path, monkeypatch):
    # the checker itself: a relative import two levels up and a `from fick.domains import x`
    fake = tmp_path / "domains" / "images" / "video"
    fake.mkdir(parents=True)
    source = fake / "probe.py"
    source.write_text("from ...molecules import data\nfrom fick.domains import audio\n"
                      "from .. import dit\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    names = {name for _, name in _imports(source)}
    assert {"fick.domains.molecules.data", "fick.domains.audio", "fick.domains.images.dit"} <= names
    assert _domain_of("fick.domains.molecules.data") == "molecules"
    assert _domain_of("fick.domains.base") is None


def test_the_pipelines_rule_catches_a_domain_picked_by_name(tmp_path, monkeypatch):
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "cli.py").write_text(
        '"""Docstrings may mention fick.domains.molecules."""\n'
        'from fick.domains import base\nif kind == "molecules":\n    pass\n')
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    with pytest.raises(AssertionError, match=r"cli.py:3 names a domain: 'molecules'") as err:
        test_pipelines_name_no_domain()
    assert "docstring" not in str(err.value).lower() and "base" not in str(err.value)
