"""Handlers of the 9 logged-model RPCs of MLflow 3 (reference §4.2).

All are bound under the v2 prefixes (``/api/2.0/mlflow/logged-models...``); the model id and a
tag key are path parameters.
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
    enum,
    int64,
    repeated_message,
    repeated_string,
    string,
)
from aiotrack.api.registry_codec import logged_model_json
from aiotrack.artifacts.paths import validate_relative_path
from aiotrack.errors import InvalidParameter
from aiotrack.keys import ARTIFACT_STORAGE, LOGGED_MODEL_STORE
from aiotrack.store.entities import Tag
from aiotrack.store.registry_entities import LoggedModelStatus

__all__ = ["routes"]

routes = web.RouteTableDef()
_STATUSES = {s.name: s.value for s in LoggedModelStatus}


@dataclass(frozen=True, slots=True)
class CreateLoggedModel(Message):
    experiment_id: str = string(required=True)
    name: str | None = string()
    model_type: str | None = string()
    source_run_id: str | None = string()
    params: list[KeyValue] = repeated_message(KeyValue)
    tags: list[KeyValue] = repeated_message(KeyValue)


@dataclass(frozen=True, slots=True)
class FinalizeLoggedModel(Message):
    model_id: str | None = string()
    status: int | None = enum(_STATUSES)


@dataclass(frozen=True, slots=True)
class Tags(Message):
    tags: list[KeyValue] = repeated_message(KeyValue)


@dataclass(frozen=True, slots=True)
class Params(Message):
    params: list[KeyValue] = repeated_message(KeyValue)


@dataclass(frozen=True, slots=True)
class DatasetFilter(Message):
    dataset_name: str | None = string()
    dataset_digest: str | None = string()


@dataclass(frozen=True, slots=True)
class OrderBy(Message):
    field_name: str = string(required=True)
    ascending: bool = boolean(default=True)
    dataset_name: str | None = string()
    dataset_digest: str | None = string()


@dataclass(frozen=True, slots=True)
class SearchLoggedModels(Message):
    experiment_ids: list[str] = repeated_string(required=True)
    filter: str | None = string()
    datasets: list[DatasetFilter] = repeated_message(DatasetFilter)
    max_results: int | None = int64()
    order_by: list[OrderBy] = repeated_message(OrderBy)
    page_token: str | None = string()


@dataclass(frozen=True, slots=True)
class ListArtifacts(Message):
    artifact_directory_path: str | None = string()
    page_token: str | None = string()


def _pairs(items: list[KeyValue]) -> list[Tag]:
    return [Tag(i.key or "", i.value or "") for i in items]


@routes.post("/mlflow/logged-models")
async def create_logged_model(request: web.Request) -> web.Response:
    msg = await CreateLoggedModel.from_request(request)
    model = await request.app[LOGGED_MODEL_STORE].create_logged_model(
        experiment_id=msg.experiment_id,
        name=msg.name or None,
        model_type=msg.model_type or "",
        source_run_id=msg.source_run_id or "",
        params=_pairs(msg.params),
        tags=_pairs(msg.tags),
    )
    return json_response({"model": logged_model_json(model)})


@routes.post("/mlflow/logged-models/search")
@cancel_on_disconnect
async def search_logged_models(request: web.Request) -> web.Response:
    msg = await SearchLoggedModels.from_request(request)
    page = await request.app[LOGGED_MODEL_STORE].search_logged_models(
        experiment_ids=msg.experiment_ids,
        filter_string=msg.filter or None,
        datasets=[
            {"dataset_name": d.dataset_name or "", "dataset_digest": d.dataset_digest or None}
            for d in msg.datasets
        ],
        # The proto default (50) reaches the store; an explicit 0 means the store's default.
        max_results=50 if msg.max_results is None else msg.max_results,
        order_by=[
            {
                "field_name": o.field_name,
                "ascending": o.ascending,
                "dataset_name": o.dataset_name or None,
                "dataset_digest": o.dataset_digest or None,
            }
            for o in msg.order_by
        ],
        page_token=msg.page_token or None,
    )
    return json_response(page_json(page, "models", logged_model_json))


@routes.get("/mlflow/logged-models/{model_id}")
async def get_logged_model(request: web.Request) -> web.Response:
    allow_deleted = request.query.get("allow_deleted", "false").lower() == "true"
    model = await request.app[LOGGED_MODEL_STORE].get_logged_model(
        request.match_info["model_id"], allow_deleted=allow_deleted
    )
    return json_response({"model": logged_model_json(model)})


@routes.patch("/mlflow/logged-models/{model_id}")
async def finalize_logged_model(request: web.Request) -> web.Response:
    msg = await FinalizeLoggedModel.from_request(request)
    if msg.status is None:
        raise InvalidParameter(
            "Missing value for required parameter 'status'. See the API docs for more "
            "information about request parameters."
        )
    model = await request.app[LOGGED_MODEL_STORE].finalize_logged_model(
        msg.model_id or request.match_info["model_id"], msg.status
    )
    return json_response({"model": logged_model_json(model)})


@routes.delete("/mlflow/logged-models/{model_id}")
async def delete_logged_model(request: web.Request) -> web.Response:
    await request.app[LOGGED_MODEL_STORE].delete_logged_model(request.match_info["model_id"])
    return json_response({})


@routes.patch("/mlflow/logged-models/{model_id}/tags")
async def set_logged_model_tags(request: web.Request) -> web.Response:
    msg = await Tags.from_request(request)
    await request.app[LOGGED_MODEL_STORE].set_logged_model_tags(
        request.match_info["model_id"], _pairs(msg.tags)
    )
    return json_response({})


@routes.delete("/mlflow/logged-models/{model_id}/tags/{tag_key}")
async def delete_logged_model_tag(request: web.Request) -> web.Response:
    await request.app[LOGGED_MODEL_STORE].delete_logged_model_tag(
        request.match_info["model_id"], request.match_info["tag_key"]
    )
    return json_response({})


@routes.post("/mlflow/logged-models/{model_id}/params")
async def log_logged_model_params(request: web.Request) -> web.Response:
    msg = await Params.from_request(request)
    await request.app[LOGGED_MODEL_STORE].log_logged_model_params(
        request.match_info["model_id"], _pairs(msg.params)
    )
    return json_response({})


@routes.get("/mlflow/logged-models/{model_id}/artifacts/directories")
async def list_logged_model_artifacts(request: web.Request) -> web.Response:
    """``{root_uri, files}``: the children of ``artifact_directory_path`` in the model's root."""
    msg = await ListArtifacts.from_request(request)
    relative = (
        validate_relative_path(msg.artifact_directory_path) if msg.artifact_directory_path else None
    )
    model = await request.app[LOGGED_MODEL_STORE].get_logged_model(request.match_info["model_id"])
    repo = await request.app[ARTIFACT_STORAGE].for_artifact_uri(model.artifact_location)
    files = await repo.listdir(relative)
    body: dict[str, object] = {"root_uri": model.artifact_location}
    if files:
        body["files"] = [info.to_json() for info in files]
    return json_response(body)
