"""``fick`` with the test-only toy domain registered: ``python toy_fick.py train ...``.

Tests run it as a subprocess where the behaviour needs a process of its own (SIGKILL, SIGTERM,
DDP workers that Lightning launches by re-running this script)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import toy_plugin  # noqa: E402
from fick.pipelines import registry  # noqa: E402
from fick.pipelines.cli import main  # noqa: E402

registry.register(toy_plugin.plugin)

if __name__ == "__main__":
    sys.exit(main())
