"""Handlers for ``/mlflow/experiments/*``: parse one request message, call one store method."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from aiotrack.api.codec import experiment_json, json_response, page_json
from aiotrack.api.disconnect import cancel_on_disconnect
from aiotrack.api.messages import (
    Message,
    enum,
    int64,
    repeated_message,
    repeated_string,
    string,
)
from aiotrack.keys import TRACKING_STORE
from aiotrack.store.entities import Tag, ViewType
from aiotrack.validation import validate_artifact_location

__all__ = ["routes"]

VIEW_TYPES = {v.name: v.value for v in ViewType}


@dataclass(frozen=True, slots=True)
class KeyValue(Message):
    """A ``{key, value}`` tag or param inside a request."""

    key: str | None = string()
    value: str | None = string()

    def to_tag(self) -> Tag:
        return Tag(self.key or "", self.value or "")


@dataclass(frozen=True, slots=True)
class CreateExperiment(Message):
    name: str = string(required=True)
    artifact_location: str | None = string()
    tags: list[KeyValue] = repeated_message(KeyValue)


@dataclass(frozen=True, slots=True)
class ExperimentId(Message):
    experiment_id: str = string(required=True)


@dataclass(frozen=True, slots=True)
class ExperimentByName(Message):
    experiment_name: str = string(required=True)


@dataclass(frozen=True, slots=True)
class UpdateExperiment(Message):
    experiment_id: str = string(required=True)
    new_name: str = string(required=True)


@dataclass(frozen=True, slots=True)
class SearchExperiments(Message):
    max_results: int = int64(default=0)
    page_token: str | None = string()
    filter: str | None = string()
    order_by: list[str] = repeated_string()
    view_type: int = enum(VIEW_TYPES, default=ViewType.ACTIVE_ONLY)


@dataclass(frozen=True, slots=True)
class SetExperimentTag(Message):
    experiment_id: str = string(required=True)
    key: str = string(required=True)
    value: str = string(default="")


@dataclass(frozen=True, slots=True)
class DeleteExperimentTag(Message):
    experiment_id: str = string(required=True)
    key: str = string(required=True)


routes = web.RouteTableDef()


@routes.post("/mlflow/experiments/create")
async def create_experiment(request: web.Request) -> web.Response:
    msg = await CreateExperiment.from_request(request)
    if msg.artifact_location:
        validate_artifact_location(msg.artifact_location)
    experiment_id = await request.app[TRACKING_STORE].create_experiment(
        msg.name, msg.artifact_location, [t.to_tag() for t in msg.tags]
    )
    return json_response({"experiment_id": experiment_id})


@routes.get("/mlflow/experiments/get")
async def get_experiment(request: web.Request) -> web.Response:
    msg = await ExperimentId.from_request(request)
    experiment = await request.app[TRACKING_STORE].get_experiment(msg.experiment_id)
    return json_response({"experiment": experiment_json(experiment)})


@routes.get("/mlflow/experiments/get-by-name")
async def get_experiment_by_name(request: web.Request) -> web.Response:
    msg = await ExperimentByName.from_request(request)
    experiment = await request.app[TRACKING_STORE].get_experiment_by_name(msg.experiment_name)
    return json_response({"experiment": experiment_json(experiment)})


@routes.post("/mlflow/experiments/delete")
async def delete_experiment(request: web.Request) -> web.Response:
    msg = await ExperimentId.from_request(request)
    await request.app[TRACKING_STORE].delete_experiment(msg.experiment_id)
    return json_response({})


@routes.post("/mlflow/experiments/restore")
async def restore_experiment(request: web.Request) -> web.Response:
    msg = await ExperimentId.from_request(request)
    await request.app[TRACKING_STORE].restore_experiment(msg.experiment_id)
    return json_response({})


@routes.post("/mlflow/experiments/update")
async def update_experiment(request: web.Request) -> web.Response:
    msg = await UpdateExperiment.from_request(request)
    await request.app[TRACKING_STORE].rename_experiment(msg.experiment_id, msg.new_name)
    return json_response({})


@routes.post("/mlflow/experiments/search")
@routes.get("/mlflow/experiments/search")
@cancel_on_disconnect
async def search_experiments(request: web.Request) -> web.Response:
    msg = await SearchExperiments.from_request(request)
    page = await request.app[TRACKING_STORE].search_experiments(
        view_type=ViewType(msg.view_type),
        max_results=msg.max_results,
        filter_string=msg.filter,
        order_by=msg.order_by,
        page_token=msg.page_token,
    )
    return json_response(page_json(page, "experiments", experiment_json))


@routes.post("/mlflow/experiments/set-experiment-tag")
async def set_experiment_tag(request: web.Request) -> web.Response:
    msg = await SetExperimentTag.from_request(request)
    await request.app[TRACKING_STORE].set_experiment_tag(msg.experiment_id, msg.key, msg.value)
    return json_response({})


@routes.post("/mlflow/experiments/delete-experiment-tag")
async def delete_experiment_tag(request: web.Request) -> web.Response:
    msg = await DeleteExperimentTag.from_request(request)
    await request.app[TRACKING_STORE].delete_experiment_tag(msg.experiment_id, msg.key)
    return json_response({})
