"""Domain plugins by name: the entry point group ``fick.domains`` plus plugins registered in code.

Nothing else in ``fick.pipelines`` knows a domain by name; everything goes through ``get``.
A plugin whose entry point fails to import is remembered with its error, so that one broken
domain does not take the CLI down (``fick models`` and ``fick demo`` report it and go on).
"""

from __future__ import annotations

from importlib.metadata import entry_points

from fick.domains.base import DomainPlugin, FickError

__all__ = [
    "ENTRY_POINT_GROUP",
    "available",
    "broken",
    "contract_problem",
    "get",
    "names",
    "register",
    "unregister",
]

ENTRY_POINT_GROUP = "fick.domains"

_registered: dict[str, DomainPlugin] = {}  # register() wins over an entry point of the same name
_loaded: dict[str, DomainPlugin] = {}
_broken: dict[str, str] = {}  # name -> why its entry point could not be loaded
_scanned = False


# every member of the DomainPlugin protocol, each checked at register() and entry point loading
_METHODS = (
    "tasks",
    "config_types",
    "build_data",
    "build_task",
    "load_samples",
    "add_data_commands",
    "pretrained",
    "add_sample_options",
    "sample_options",
    "evaluate_files",
    "add_file_options",
    "file_options",
)


def contract_problem(plugin: object) -> str | None:
    """What ``plugin`` lacks of the DomainPlugin contract, in one line; None when it has all."""
    missing = [m for m in _METHODS if not callable(getattr(plugin, m, None))]
    if not isinstance(getattr(plugin, "name", None), str):
        missing.insert(0, "name (a str)")
    suffixes = getattr(plugin, "sample_suffixes", None)
    if not isinstance(suffixes, tuple | list) or not all(isinstance(x, str) for x in suffixes):
        missing.append("sample_suffixes (a tuple of str)")
    if not missing:
        return None
    return (
        f"{type(plugin).__qualname__} is not a domain plugin: it lacks {', '.join(missing)} "
        "(subclass fick.domains.base.PluginDefaults for the optional ones; see docs/plugins.md)"
    )


def register(plugin: DomainPlugin, *, name: str | None = None) -> DomainPlugin:
    """Make ``plugin`` available under ``name`` (default ``plugin.name``); returns it.

    For tests and third parties that do not ship an entry point. A plugin that lacks part of
    the contract is refused with a FickError naming what is missing."""
    problem = contract_problem(plugin)
    if problem:
        raise FickError(problem)
    key = name or plugin.name
    _registered[key] = plugin
    _broken.pop(key, None)
    return plugin


def unregister(name: str) -> None:
    """Remove a plugin added with ``register`` (entry point plugins stay)."""
    _registered.pop(name, None)


def _scan() -> None:
    global _scanned
    if _scanned:
        return
    _scanned = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _loaded or ep.name in _registered:
            continue
        try:
            plugin = ep.load()
        except Exception as err:  # noqa: BLE001 - report any import failure, never crash on it
            _broken[ep.name] = f"{type(err).__name__}: {err}"
            continue
        problem = contract_problem(plugin)
        if problem:
            _broken[ep.name] = problem
            continue
        _loaded[ep.name] = plugin


def available() -> dict[str, DomainPlugin]:
    """All loadable plugins by name (entry points and registered ones), sorted by name."""
    _scan()
    merged = {**_loaded, **_registered}
    return dict(sorted(merged.items()))


def broken() -> dict[str, str]:
    """Entry points that failed to load: name -> the error."""
    _scan()
    return {k: v for k, v in sorted(_broken.items()) if k not in _registered}


def names() -> list[str]:
    """Names of all loadable plugins."""
    return list(available())


def get(name: str) -> DomainPlugin:
    """The plugin registered as ``name``; a FickError naming the known ones otherwise."""
    plugins = available()
    if name in plugins:
        return plugins[name]
    if name in _broken:
        raise FickError(
            f"domain '{name}' could not be loaded ({_broken[name]}): fix or reinstall it"
        )
    known = ", ".join(plugins) or "none installed"
    raise FickError(f"unknown domain '{name}': known domains are {known}")
