"""aiotrack: a drop-in, async replacement for ``mlflow server``."""

from __future__ import annotations

__all__ = ["MLFLOW_COMPAT_VERSION", "__version__"]

__version__ = "0.1.0.dev0"

#: The MLflow release whose REST API and SQL schema aiotrack serves; `/version` answers this.
MLFLOW_COMPAT_VERSION = "3.18.0"
