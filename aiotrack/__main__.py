"""``python -m aiotrack``: the same command line as the ``aiotrack`` console script."""

from __future__ import annotations

from aiotrack.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
