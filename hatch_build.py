"""Hatchling build hook: build the web UI (``web/``) into ``aiotrack/static`` for every wheel.

``pip install .`` runs ``npm ci && npm run build`` in ``web/`` (exact versions from
``web/package-lock.json``), so the wheel ships the UI; Node.js 20.19+ and npm are needed then.

- ``AIOTRACK_SKIP_UI_BUILD=1``: skip it (API-only or editable installs; the server then shows a
  "UI not built" page at ``/``).
- Building from an sdist that already carries ``aiotrack/static`` (no ``web/``): nothing to do.
- npm missing and no built UI: the build fails with a message that says what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

MIN_NODE = (20, 19)


class UiBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        web = root / "web"
        built = root / "aiotrack" / "static" / "index.html"
        if os.environ.get("AIOTRACK_SKIP_UI_BUILD") == "1":
            return
        if not (web / "package.json").is_file():
            if built.is_file():
                return  # an sdist with the UI already built
            raise RuntimeError(
                "aiotrack: neither web/ sources nor a built UI (aiotrack/static) were found; "
                "set AIOTRACK_SKIP_UI_BUILD=1 for an install without the web UI"
            )
        npm = shutil.which("npm")
        node = shutil.which("node")
        if npm is None or node is None:
            if built.is_file():
                self.app.display_warning("aiotrack: npm not found; packaging the UI already built")
                return
            raise RuntimeError(
                "aiotrack: building the web UI needs Node.js >= 20.19 and npm on PATH, and "
                "neither the UI nor npm was found. Install Node.js (https://nodejs.org), or set "
                "AIOTRACK_SKIP_UI_BUILD=1 to install without the web UI."
            )
        self._check_node(node)
        self.app.display_info("aiotrack: building the web UI (npm ci && npm run build)")
        for cmd in ([npm, "ci", "--no-audit", "--no-fund"], [npm, "run", "build"]):
            result = subprocess.run(cmd, cwd=web, check=False)
            if result.returncode != 0:
                raise RuntimeError(
                    f"aiotrack: `{' '.join(cmd[1:])}` failed in {web} (exit {result.returncode}); "
                    "see the output above, or set AIOTRACK_SKIP_UI_BUILD=1 to skip the UI"
                )
        if not built.is_file():
            raise RuntimeError(f"aiotrack: the UI build did not produce {built}")

    def _check_node(self, node: str) -> None:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, check=False)
        try:
            major, minor = (int(p) for p in out.stdout.strip().lstrip("v").split(".")[:2])
        except ValueError:
            return
        if (major, minor) < MIN_NODE:
            raise RuntimeError(
                f"aiotrack: the web UI build needs Node.js >= {MIN_NODE[0]}.{MIN_NODE[1]}, found "
                f"{out.stdout.strip()}; upgrade Node.js or set AIOTRACK_SKIP_UI_BUILD=1"
            )
