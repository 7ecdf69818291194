"""Handlers for ``/mlflow/runs/*``: create, read, update, delete, search and log to runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from aiotrack.api.codec import json_response, page_json, run_info_json, run_json
from aiotrack.api.disconnect import cancel_on_disconnect
from aiotrack.api.experiments import KeyValue
from aiotrack.api.messages import (
    INT64_MAX,
    INT64_MIN,
    Message,
    double,
    enum,
    int64,
    read_json_body,
    repeated_message,
    repeated_string,
    run_id_field,
    string,
)
from aiotrack.errors import InvalidParameter
from aiotrack.keys import TRACKING_STORE
from aiotrack.store.entities import RUN_STATUSES, Metric, Param, Tag, ViewType
from aiotrack.validation import missing_value

__all__ = ["routes"]

STATUSES = {name: number for number, name in RUN_STATUSES.items()}
VIEW_TYPES = {v.name: v.value for v in ViewType}
MAX_SEARCH_RESULTS = 50000
_HINT = " See the API docs for more information about request parameters."


@dataclass(frozen=True, slots=True)
class CreateRun(Message):
    experiment_id: str | None = string()
    user_id: str = string(default="")
    run_name: str | None = string()
    start_time: int = int64(default=0)
    tags: list[KeyValue] = repeated_message(KeyValue)


@dataclass(frozen=True, slots=True)
class UpdateRun(Message):
    run_id: str = run_id_field()
    status: int | None = enum(STATUSES)
    end_time: int | None = int64()
    run_name: str | None = string()


@dataclass(frozen=True, slots=True)
class RunId(Message):
    run_id: str = run_id_field()


@dataclass(frozen=True, slots=True)
class LogMetric(Message):
    run_id: str = run_id_field()
    key: str = string(required=True)
    value: float = double(required=True)
    timestamp: int = int64(required=True)
    step: int = int64(default=0)
    model_id: str | None = string()
    dataset_name: str | None = string()
    dataset_digest: str | None = string()


@dataclass(frozen=True, slots=True)
class LogParam(Message):
    run_id: str = run_id_field()
    key: str = string(required=True)
    value: str = string(default="")


@dataclass(frozen=True, slots=True)
class SetTag(Message):
    run_id: str = run_id_field()
    key: str = string(required=True)
    value: str = string(default="")


@dataclass(frozen=True, slots=True)
class DeleteTag(Message):
    run_id: str = string(required=True)
    key: str = string(required=True)


@dataclass(frozen=True, slots=True)
class SearchRuns(Message):
    experiment_ids: list[str] = repeated_string()
    filter: str | None = string()
    run_view_type: int = enum(VIEW_TYPES, default=ViewType.ACTIVE_ONLY)
    max_results: int = int64(default=1000)
    order_by: list[str] = repeated_string()
    page_token: str | None = string()


@dataclass(frozen=True, slots=True)
class BatchMetric(Message):
    key: str | None = string()
    value: float | None = double()
    timestamp: int | None = int64()
    step: int = int64(default=0)
    model_id: str | None = string()
    dataset_name: str | None = string()
    dataset_digest: str | None = string()


@dataclass(frozen=True, slots=True)
class LogBatch(Message):
    run_id: str = string(required=True)
    metrics: list[BatchMetric] = repeated_message(BatchMetric)
    params: list[KeyValue] = repeated_message(KeyValue)
    tags: list[KeyValue] = repeated_message(KeyValue)


@dataclass(frozen=True, slots=True)
class LogModel(Message):
    run_id: str = run_id_field()
    model_json: str = string(required=True)


routes = web.RouteTableDef()


@routes.post("/mlflow/runs/create")
async def create_run(request: web.Request) -> web.Response:
    msg = await CreateRun.from_request(request)
    run = await request.app[TRACKING_STORE].create_run(
        experiment_id=msg.experiment_id or "",
        user_id=msg.user_id,
        start_time=msg.start_time,
        run_name=msg.run_name,
        tags=[t.to_tag() for t in msg.tags],
    )
    return json_response({"run": run_json(run)})


@routes.post("/mlflow/runs/update")
async def update_run(request: web.Request) -> web.Response:
    msg = await UpdateRun.from_request(request)
    info = await request.app[TRACKING_STORE].update_run_info(
        msg.run_id,
        status=RUN_STATUSES[msg.status] if msg.status is not None else None,
        end_time=msg.end_time,
        run_name=msg.run_name,
    )
    return json_response({"run_info": run_info_json(info)})


@routes.post("/mlflow/runs/delete")
async def delete_run(request: web.Request) -> web.Response:
    msg = await RunId.from_request(request)
    await request.app[TRACKING_STORE].delete_run(msg.run_id)
    return json_response({})


@routes.post("/mlflow/runs/restore")
async def restore_run(request: web.Request) -> web.Response:
    msg = await RunId.from_request(request)
    await request.app[TRACKING_STORE].restore_run(msg.run_id)
    return json_response({})


@routes.get("/mlflow/runs/get")
async def get_run(request: web.Request) -> web.Response:
    msg = await RunId.from_request(request)
    run = await request.app[TRACKING_STORE].get_run(msg.run_id)
    return json_response({"run": run_json(run)})


@routes.post("/mlflow/runs/log-metric")
async def log_metric(request: web.Request) -> web.Response:
    msg = await LogMetric.from_request(request)
    metric = Metric(
        key=msg.key,
        value=msg.value,
        timestamp=msg.timestamp,
        step=msg.step,
        dataset_name=msg.dataset_name or None,
        dataset_digest=msg.dataset_digest or None,
        model_id=msg.model_id or None,
    )
    await request.app[TRACKING_STORE].log_metric(msg.run_id, metric)
    return json_response({})


@routes.post("/mlflow/runs/log-parameter")
async def log_param(request: web.Request) -> web.Response:
    msg = await LogParam.from_request(request)
    await request.app[TRACKING_STORE].log_param(msg.run_id, msg.key, msg.value)
    return json_response({})


@routes.post("/mlflow/runs/set-tag")
async def set_tag(request: web.Request) -> web.Response:
    msg = await SetTag.from_request(request)
    await request.app[TRACKING_STORE].set_tag(msg.run_id, msg.key, msg.value)
    return json_response({})


@routes.post("/mlflow/runs/delete-tag")
async def delete_tag(request: web.Request) -> web.Response:
    msg = await DeleteTag.from_request(request)
    await request.app[TRACKING_STORE].delete_tag(msg.run_id, msg.key)
    return json_response({})


@routes.post("/mlflow/runs/search")
@cancel_on_disconnect
async def search_runs(request: web.Request) -> web.Response:
    msg = await SearchRuns.from_request(request)
    if msg.max_results > MAX_SEARCH_RESULTS:
        raise InvalidParameter(
            f"Invalid value {msg.max_results} for parameter 'max_results' supplied:  Hint: "
            f"Value was of type 'int'.{_HINT}"
        )
    page = await request.app[TRACKING_STORE].search_runs(
        experiment_ids=msg.experiment_ids,
        filter_string=msg.filter,
        view_type=ViewType(msg.run_view_type),
        max_results=msg.max_results,
        order_by=msg.order_by,
        page_token=msg.page_token,
    )
    return json_response(page_json(page, "runs", run_json))


def _require(items: list[Any], what: str, fields: tuple[str, ...]) -> None:
    for i, item in enumerate(items):
        for name in fields:
            value = getattr(item, name)
            if value is None or value == "":
                raise InvalidParameter(missing_value(f"{what}[{i}].{name}") + _HINT)


def _plain_metrics(items: list[Any]) -> list[Metric] | None:
    """The fast path for the hottest payload: ``{key, value, timestamp[, step]}`` objects with
    well-typed values. ``None`` sends anything else through the generic parser, which then
    produces MLflow's exact error or handles the optional fields."""
    out: list[Metric] = []
    append = out.append
    for m in items:
        if type(m) is not dict or len(m) > 4:
            return None
        key = m.get("key")
        value = m.get("value")
        timestamp = m.get("timestamp")
        step = m.get("step", 0)
        if type(key) is not str or not key or type(timestamp) is not int or type(step) is not int:
            return None
        if not (INT64_MIN <= timestamp <= INT64_MAX and INT64_MIN <= step <= INT64_MAX):
            return None  # the generic parser answers MLflow's range error
        if type(value) is not float:
            if type(value) is not int:
                return None
            value = float(value)
        if len(m) == 4 and "step" not in m:
            return None
        append(Metric(key, value, timestamp, step))
    return out


@routes.post("/mlflow/runs/log-batch")
async def log_batch(request: web.Request) -> web.Response:
    body = await read_json_body(request)
    raw_metrics = body.get("metrics")
    metrics = _plain_metrics(raw_metrics) if type(raw_metrics) is list else None
    if metrics is not None:
        msg = LogBatch.from_json({k: v for k, v in body.items() if k != "metrics"})
    else:
        msg = LogBatch.from_json(body)
        _require(msg.metrics, "metrics", ("key", "value", "timestamp"))
        metrics = [
            Metric(
                key=m.key or "",
                value=m.value or 0.0,
                timestamp=m.timestamp or 0,
                step=m.step,
                model_id=m.model_id or None,
                dataset_name=m.dataset_name or None,
                dataset_digest=m.dataset_digest or None,
            )
            for m in msg.metrics
        ]
    _require(msg.params, "params", ("key",))
    _require(msg.tags, "tags", ("key",))
    await request.app[TRACKING_STORE].log_batch(
        msg.run_id,
        metrics=metrics,
        params=[Param(p.key or "", p.value or "") for p in msg.params],
        tags=[Tag(t.key or "", t.value or "") for t in msg.tags],
    )
    return json_response({})


@routes.post("/mlflow/runs/log-model")
async def log_model(request: web.Request) -> web.Response:
    msg = await LogModel.from_request(request)
    try:
        model = orjson.loads(msg.model_json)
    except orjson.JSONDecodeError:
        model = None
    if not isinstance(model, dict):
        raise InvalidParameter(f"Malformed model info. \n {msg.model_json} \n is not a valid JSON.")
    missing = {"artifact_path", "flavors", "utc_time_created", "run_id"} - set(model)
    if missing:
        raise InvalidParameter(f"Model json is missing mandatory fields: {missing}")
    await request.app[TRACKING_STORE].record_logged_model(msg.run_id, model)
    return json_response({})
