"""The async protocols of the model registry and of MLflow 3 logged models (reference §4.2, §4.3).

Methods raise the ``aiotrack.errors`` tree with MLflow's messages. Model version numbers are
taken as the strings the API carries and validated by the store (a non-integer is a 400).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from aiotrack.store.entities import Page, Tag
from aiotrack.store.registry_entities import LoggedModel, ModelVersion, RegisteredModel

__all__ = ["LoggedModelStore", "RegistryStore"]


class RegistryStore(Protocol):
    """Registered models, their versions, tags, aliases and stages."""

    async def create_registered_model(
        self, name: str, tags: Sequence[Tag], description: str | None
    ) -> RegisteredModel: ...

    async def get_registered_model(self, name: str) -> RegisteredModel: ...

    async def update_registered_model(
        self, name: str, description: str | None
    ) -> RegisteredModel: ...

    async def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel: ...

    async def delete_registered_model(self, name: str) -> None: ...

    async def search_registered_models(
        self,
        *,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> Page[RegisteredModel]: ...

    async def get_latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]: ...

    async def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...

    async def delete_registered_model_tag(self, name: str, key: str) -> None: ...

    async def create_model_version(
        self,
        *,
        name: str,
        source: str,
        run_id: str | None,
        tags: Sequence[Tag],
        run_link: str | None,
        description: str | None,
        model_id: str | None,
    ) -> ModelVersion: ...

    async def get_model_version(self, name: str, version: str) -> ModelVersion: ...

    async def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersion: ...

    async def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool
    ) -> ModelVersion: ...

    async def delete_model_version(self, name: str, version: str) -> None: ...

    async def get_model_version_download_uri(self, name: str, version: str) -> str: ...

    async def search_model_versions(
        self,
        *,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> Page[ModelVersion]: ...

    async def set_model_version_tag(
        self, name: str, version: str, key: str, value: str
    ) -> None: ...

    async def delete_model_version_tag(self, name: str, version: str, key: str) -> None: ...

    async def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...

    async def delete_registered_model_alias(self, name: str, alias: str) -> None: ...

    async def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...


class LoggedModelStore(Protocol):
    """MLflow 3 logged models of the tracking database."""

    async def create_logged_model(
        self,
        *,
        experiment_id: str,
        name: str | None,
        model_type: str | None,
        source_run_id: str | None,
        params: Sequence[Tag],
        tags: Sequence[Tag],
    ) -> LoggedModel: ...

    async def get_logged_model(
        self, model_id: str, *, allow_deleted: bool = False
    ) -> LoggedModel: ...

    async def finalize_logged_model(self, model_id: str, status: int) -> LoggedModel: ...

    async def delete_logged_model(self, model_id: str) -> None: ...

    async def set_logged_model_tags(self, model_id: str, tags: Sequence[Tag]) -> None: ...

    async def delete_logged_model_tag(self, model_id: str, key: str) -> None: ...

    async def log_logged_model_params(self, model_id: str, params: Sequence[Tag]) -> None: ...

    async def search_logged_models(
        self,
        *,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        datasets: Sequence[dict[str, Any]],
        max_results: int,
        order_by: Sequence[dict[str, Any]],
        page_token: str | None,
    ) -> Page[LoggedModel]: ...

    async def add_model_version_registration(
        self, model_id: str, name: str, version: int
    ) -> None: ...
