"""Stand-ins for the stores a file backend does not have in aiotrack yet.

With ``--backend-store-uri ./mlruns`` the model registry (``mlruns/models/``) and aiotrack's
own UI queries (which are SQL) are not served: every call answers
``501 NOT_IMPLEMENTED`` with a message that says so and how to get the feature, instead of a
500 from a missing store.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from aiotrack.errors import NotImplementedFeature

__all__ = ["UnsupportedOnFileStore"]

_HINT = (
    "is not supported by aiotrack on a file-store backend (--backend-store-uri ./mlruns) yet; "
    "use a database backend such as sqlite:///mlflow.db (`aiotrack import` or "
    "`mlflow migrate-filestore` copies ./mlruns into one)"
)


class UnsupportedOnFileStore:
    """Any awaited method raises `NotImplementedFeature` naming ``feature``."""

    def __init__(self, feature: str) -> None:
        self.feature = feature

    def __getattr__(self, name: str) -> Callable[..., Coroutine[Any, Any, NoReturn]]:
        if name.startswith("__"):
            raise AttributeError(name)
        feature = self.feature

        async def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
            raise NotImplementedFeature(f"{feature} {_HINT}")

        return refuse
