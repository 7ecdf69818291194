"""Handlers for run inputs and outputs: ``runs/log-inputs``, ``runs/outputs``, dataset search."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from aiotrack.api.codec import dataset_summary_json, json_response
from aiotrack.api.disconnect import cancel_on_disconnect
from aiotrack.api.experiments import KeyValue
from aiotrack.api.messages import (
    Message,
    int64,
    message,
    read_json_body,
    repeated_message,
    repeated_string,
    string,
)
from aiotrack.errors import InvalidParameter
from aiotrack.keys import TRACKING_STORE
from aiotrack.store.entities import Dataset, DatasetInput, InputTag, ModelInput, ModelOutput

__all__ = ["routes", "search_datasets"]

MAX_EXPERIMENTS_PER_DATASET_SEARCH = 20


@dataclass(frozen=True, slots=True)
class DatasetMsg(Message):
    name: str = string(required=True)
    digest: str = string(required=True)
    source_type: str = string(required=True)
    source: str = string(required=True)
    schema: str | None = string()
    profile: str | None = string()


@dataclass(frozen=True, slots=True)
class DatasetInputMsg(Message):
    tags: list[KeyValue] = repeated_message(KeyValue)
    dataset: DatasetMsg | None = message(DatasetMsg, required=True)


@dataclass(frozen=True, slots=True)
class ModelInputMsg(Message):
    model_id: str = string(required=True)


@dataclass(frozen=True, slots=True)
class ModelOutputMsg(Message):
    model_id: str = string(required=True)
    step: int = int64(default=0)


@dataclass(frozen=True, slots=True)
class LogInputs(Message):
    run_id: str = string(required=True)
    datasets: list[DatasetInputMsg] = repeated_message(DatasetInputMsg)
    models: list[ModelInputMsg] = repeated_message(ModelInputMsg)


@dataclass(frozen=True, slots=True)
class LogOutputs(Message):
    run_id: str = string(required=True)
    models: list[ModelOutputMsg] = repeated_message(ModelOutputMsg, required=True)


@dataclass(frozen=True, slots=True)
class SearchDatasets(Message):
    experiment_ids: list[str] = repeated_string()


routes = web.RouteTableDef()


def _dataset_input(d: DatasetInputMsg) -> DatasetInput:
    assert d.dataset is not None
    ds = d.dataset
    return DatasetInput(
        Dataset(ds.name, ds.digest, ds.source_type, ds.source, ds.schema, ds.profile),
        [InputTag(t.key or "", t.value or "") for t in d.tags],
    )


@routes.post("/mlflow/runs/log-inputs")
async def log_inputs(request: web.Request) -> web.Response:
    msg = await LogInputs.from_request(request)
    await request.app[TRACKING_STORE].log_inputs(
        msg.run_id,
        datasets=[_dataset_input(d) for d in msg.datasets],
        models=[ModelInput(m.model_id) for m in msg.models],
    )
    return json_response({})


@routes.post("/mlflow/runs/outputs")
async def log_outputs(request: web.Request) -> web.Response:
    msg = await LogOutputs.from_request(request)
    await request.app[TRACKING_STORE].log_outputs(
        msg.run_id, [ModelOutput(m.model_id, m.step) for m in msg.models]
    )
    return json_response({})


@cancel_on_disconnect
async def search_datasets(request: web.Request) -> web.Response:
    """UI-only ``POST /ajax-api/2.0/mlflow/experiments/search-datasets``."""
    msg = SearchDatasets.from_json(await read_json_body(request))
    if not msg.experiment_ids:
        raise InvalidParameter("SearchDatasets request must specify at least one experiment_id.")
    if len(msg.experiment_ids) > MAX_EXPERIMENTS_PER_DATASET_SEARCH:
        raise InvalidParameter(
            "SearchDatasets request cannot specify more than "
            f"{MAX_EXPERIMENTS_PER_DATASET_SEARCH} experiment_ids. "
            f"Received {len(msg.experiment_ids)} experiment_ids."
        )
    summaries = await request.app[TRACKING_STORE].search_datasets(msg.experiment_ids)
    body: dict[str, object] = {}
    if summaries:
        body["dataset_summaries"] = [dataset_summary_json(s) for s in summaries]
    return json_response(body)
