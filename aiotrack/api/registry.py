"""Handlers of the model registry's 21 RPCs (reference §4.3).

Each handler parses one request message, calls one ``RegistryStore`` method and serialises the
result. The registry's DELETE routes carry their parameters in a JSON body, as the client sends
them; GET routes read the query string.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from aiotrack.api.codec import json_response, page_json
from aiotrack.api.disconnect import cancel_on_disconnect
from aiotrack.api.experiments import KeyValue
from aiotrack.api.messages import (
    Message,
    boolean,
    int64,
    repeated_message,
    repeated_string,
    string,
)
from aiotrack.api.registry_codec import model_version_json, registered_model_json
from aiotrack.keys import REGISTRY_STORE
from aiotrack.store.entities import Tag

__all__ = ["routes"]

routes = web.RouteTableDef()


@dataclass(frozen=True, slots=True)
class Name(Message):
    name: str = string(required=True)


@dataclass(frozen=True, slots=True)
class CreateRegisteredModel(Message):
    name: str = string(required=True)
    tags: list[KeyValue] = repeated_message(KeyValue)
    description: str | None = string()
    deployment_job_id: str | None = string()


@dataclass(frozen=True, slots=True)
class RenameRegisteredModel(Message):
    name: str = string(required=True)
    new_name: str = string(required=True)


@dataclass(frozen=True, slots=True)
class UpdateRegisteredModel(Message):
    name: str = string(required=True)
    description: str | None = string()
    deployment_job_id: str | None = string()


@dataclass(frozen=True, slots=True)
class Search(Message):
    filter: str | None = string()
    max_results: int | None = int64()
    order_by: list[str] = repeated_string()
    page_token: str | None = string()


@dataclass(frozen=True, slots=True)
class GetLatestVersions(Message):
    name: str = string(required=True)
    stages: list[str] = repeated_string()


@dataclass(frozen=True, slots=True)
class NameKey(Message):
    name: str = string(required=True)
    key: str = string(required=True)


@dataclass(frozen=True, slots=True)
class SetRegisteredModelTag(Message):
    name: str = string(required=True)
    key: str = string(required=True)
    value: str = string(default="")


@dataclass(frozen=True, slots=True)
class CreateModelVersion(Message):
    name: str = string(required=True)
    source: str = string(required=True)
    run_id: str | None = string()
    tags: list[KeyValue] = repeated_message(KeyValue)
    run_link: str | None = string()
    description: str | None = string()
    model_id: str | None = string()


@dataclass(frozen=True, slots=True)
class Version(Message):
    name: str = string(required=True)
    version: str = string(required=True)


@dataclass(frozen=True, slots=True)
class UpdateModelVersion(Message):
    name: str = string(required=True)
    version: str = string(required=True)
    description: str | None = string()


@dataclass(frozen=True, slots=True)
class TransitionStage(Message):
    name: str = string(required=True)
    version: str = string(required=True)
    stage: str = string(required=True)
    archive_existing_versions: bool = boolean(default=False)


@dataclass(frozen=True, slots=True)
class VersionKey(Message):
    name: str = string(required=True)
    version: str = string(required=True)
    key: str = string(required=True)


@dataclass(frozen=True, slots=True)
class SetModelVersionTag(Message):
    name: str = string(required=True)
    version: str = string(required=True)
    key: str = string(required=True)
    value: str = string(default="")


@dataclass(frozen=True, slots=True)
class Alias(Message):
    name: str = string(required=True)
    alias: str = string(required=True)


@dataclass(frozen=True, slots=True)
class SetAlias(Message):
    name: str = string(required=True)
    alias: str = string(required=True)
    version: str = string(required=True)


def _tags(tags: list[KeyValue]) -> list[Tag]:
    # A tag without a key reaches the store's key check ("Missing value for ... 'key'").
    return [Tag(t.key, t.value if t.value is not None else "") for t in tags]  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- registered models


@routes.post("/mlflow/registered-models/create")
async def create_registered_model(request: web.Request) -> web.Response:
    msg = await CreateRegisteredModel.from_request(request)
    model = await request.app[REGISTRY_STORE].create_registered_model(
        msg.name, _tags(msg.tags), msg.description or ""
    )
    return json_response({"registered_model": registered_model_json(model)})


@routes.get("/mlflow/registered-models/get")
async def get_registered_model(request: web.Request) -> web.Response:
    msg = await Name.from_request(request)
    model = await request.app[REGISTRY_STORE].get_registered_model(msg.name)
    return json_response({"registered_model": registered_model_json(model)})


@routes.post("/mlflow/registered-models/rename")
async def rename_registered_model(request: web.Request) -> web.Response:
    msg = await RenameRegisteredModel.from_request(request)
    model = await request.app[REGISTRY_STORE].rename_registered_model(msg.name, msg.new_name)
    return json_response({"registered_model": registered_model_json(model)})


@routes.patch("/mlflow/registered-models/update")
async def update_registered_model(request: web.Request) -> web.Response:
    msg = await UpdateRegisteredModel.from_request(request)
    model = await request.app[REGISTRY_STORE].update_registered_model(
        msg.name, msg.description or ""
    )
    return json_response({"registered_model": registered_model_json(model)})


@routes.delete("/mlflow/registered-models/delete")
async def delete_registered_model(request: web.Request) -> web.Response:
    msg = await Name.from_request(request)
    await request.app[REGISTRY_STORE].delete_registered_model(msg.name)
    return json_response({})


@routes.get("/mlflow/registered-models/search")
@cancel_on_disconnect
async def search_registered_models(request: web.Request) -> web.Response:
    msg = await Search.from_request(request)
    page = await request.app[REGISTRY_STORE].search_registered_models(
        filter_string=msg.filter,
        max_results=100 if msg.max_results is None else msg.max_results,
        order_by=msg.order_by,
        page_token=msg.page_token,
    )
    return json_response(page_json(page, "registered_models", registered_model_json))


@routes.post("/mlflow/registered-models/get-latest-versions")
@routes.get("/mlflow/registered-models/get-latest-versions")
async def get_latest_versions(request: web.Request) -> web.Response:
    msg = await GetLatestVersions.from_request(request)
    versions = await request.app[REGISTRY_STORE].get_latest_versions(msg.name, msg.stages)
    body: dict[str, object] = {}
    if versions:
        body["model_versions"] = [model_version_json(v) for v in versions]
    return json_response(body)


@routes.post("/mlflow/registered-models/set-tag")
async def set_registered_model_tag(request: web.Request) -> web.Response:
    msg = await SetRegisteredModelTag.from_request(request)
    await request.app[REGISTRY_STORE].set_registered_model_tag(msg.name, msg.key, msg.value)
    return json_response({})


@routes.delete("/mlflow/registered-models/delete-tag")
async def delete_registered_model_tag(request: web.Request) -> web.Response:
    msg = await NameKey.from_request(request)
    await request.app[REGISTRY_STORE].delete_registered_model_tag(msg.name, msg.key)
    return json_response({})


@routes.post("/mlflow/registered-models/alias")
async def set_registered_model_alias(request: web.Request) -> web.Response:
    msg = await SetAlias.from_request(request)
    await request.app[REGISTRY_STORE].set_registered_model_alias(msg.name, msg.alias, msg.version)
    return json_response({})


@routes.delete("/mlflow/registered-models/alias")
async def delete_registered_model_alias(request: web.Request) -> web.Response:
    msg = await Alias.from_request(request)
    await request.app[REGISTRY_STORE].delete_registered_model_alias(msg.name, msg.alias)
    return json_response({})


@routes.get("/mlflow/registered-models/alias")
async def get_model_version_by_alias(request: web.Request) -> web.Response:
    msg = await Alias.from_request(request)
    version = await request.app[REGISTRY_STORE].get_model_version_by_alias(msg.name, msg.alias)
    return json_response({"model_version": model_version_json(version)})


# ---------------------------------------------------------------------------- model versions


@routes.post("/mlflow/model-versions/create")
async def create_model_version(request: web.Request) -> web.Response:
    msg = await CreateModelVersion.from_request(request)
    version = await request.app[REGISTRY_STORE].create_model_version(
        name=msg.name,
        source=msg.source,
        run_id=msg.run_id,
        tags=_tags(msg.tags),
        run_link=msg.run_link or "",
        description=msg.description or "",
        model_id=msg.model_id,
    )
    return json_response({"model_version": model_version_json(version)})


@routes.get("/mlflow/model-versions/get")
async def get_model_version(request: web.Request) -> web.Response:
    msg = await Version.from_request(request)
    version = await request.app[REGISTRY_STORE].get_model_version(msg.name, msg.version)
    return json_response({"model_version": model_version_json(version)})


@routes.patch("/mlflow/model-versions/update")
async def update_model_version(request: web.Request) -> web.Response:
    msg = await UpdateModelVersion.from_request(request)
    version = await request.app[REGISTRY_STORE].update_model_version(
        msg.name, msg.version, msg.description
    )
    return json_response({"model_version": model_version_json(version)})


@routes.post("/mlflow/model-versions/transition-stage")
async def transition_model_version_stage(request: web.Request) -> web.Response:
    msg = await TransitionStage.from_request(request)
    version = await request.app[REGISTRY_STORE].transition_model_version_stage(
        msg.name, msg.version, msg.stage, msg.archive_existing_versions
    )
    return json_response({"model_version": model_version_json(version)})


@routes.delete("/mlflow/model-versions/delete")
async def delete_model_version(request: web.Request) -> web.Response:
    msg = await Version.from_request(request)
    await request.app[REGISTRY_STORE].delete_model_version(msg.name, msg.version)
    return json_response({})


@routes.get("/mlflow/model-versions/get-download-uri")
async def get_model_version_download_uri(request: web.Request) -> web.Response:
    msg = await Version.from_request(request)
    uri = await request.app[REGISTRY_STORE].get_model_version_download_uri(msg.name, msg.version)
    return json_response({"artifact_uri": uri})


@routes.get("/mlflow/model-versions/search")
@cancel_on_disconnect
async def search_model_versions(request: web.Request) -> web.Response:
    msg = await Search.from_request(request)
    page = await request.app[REGISTRY_STORE].search_model_versions(
        filter_string=msg.filter,
        max_results=200_000 if msg.max_results is None else msg.max_results,
        order_by=msg.order_by,
        page_token=msg.page_token,
    )
    return json_response(page_json(page, "model_versions", model_version_json))


@routes.post("/mlflow/model-versions/set-tag")
async def set_model_version_tag(request: web.Request) -> web.Response:
    msg = await SetModelVersionTag.from_request(request)
    await request.app[REGISTRY_STORE].set_model_version_tag(
        msg.name, msg.version, msg.key, msg.value
    )
    return json_response({})


@routes.delete("/mlflow/model-versions/delete-tag")
async def delete_model_version_tag(request: web.Request) -> web.Response:
    msg = await VersionKey.from_request(request)
    await request.app[REGISTRY_STORE].delete_model_version_tag(msg.name, msg.version, msg.key)
    return json_response({})
