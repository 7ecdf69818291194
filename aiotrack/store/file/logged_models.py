"""MLflow 3 logged models on the file store: ``<experiment>/models/<model_id>/``.

Each model directory holds ``meta.yaml`` (``LoggedModel.to_dictionary()`` without tags, params
and metrics, plus ``lifecycle_stage``), ``params/<key>``, ``tags/<key>`` and ``metrics/<key>``
(lines ``"<ts> <value> <step> <run_id>[ <dataset_name> <dataset_digest>]"``, written by the
tracking store when a run logs a metric with a ``model_id``). Semantics, quirks and messages
are those of MLflow 3.17.2's ``FileStore`` (e.g. finalizing rewrites meta.yaml without
``lifecycle_stage``; search is done in Python with ``SearchLoggedModelsUtils``' rules).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from aiotrack.errors import InvalidParameter, InvalidState, ResourceNotFound
from aiotrack.names import random_run_name
from aiotrack.search import Comparison
from aiotrack.search.parser import parse_logged_model_filter
from aiotrack.store.entities import LifecycleStage, Metric, Page, Tag
from aiotrack.store.file import experiments as exps
from aiotrack.store.file.layout import (
    METRICS,
    MODELS,
    PARAMS,
    TAGS,
    MalformedError,
    list_dir_files,
    list_subdirs,
    read_values,
    read_yaml,
    write_text,
    write_yaml,
)
from aiotrack.store.file.root import FileRoot
from aiotrack.store.file.search import compare
from aiotrack.store.pagination import decode_offset, encode_offset
from aiotrack.store.registry_entities import LoggedModel
from aiotrack.uris import append_path
from aiotrack.validation import (
    MAX_PARAM_VALUE_LENGTH,
    limit_length,
    validate_param_name,
    validate_tag_name,
)

__all__ = ["FileLoggedModelStore"]

DEFAULT_MAX_RESULTS = 100
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
#: MLflow's ``LoggedModelStatus`` names by number (what filters and order_bys compare).
_STATUS_NAMES = {0: "UNSPECIFIED", 1: "PENDING", 2: "READY", 3: "FAILED"}
_BAD_NAME_CHARS = ("/", ":", ".", "%", '"', "'")
_ORDER_KEYS = {
    "name",
    "model_id",
    "model_type",
    "status",
    "source_run_id",
    "creation_timestamp",
    "creation_time",
    "last_updated_timestamp",
    "last_updated_time",
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _not_found(model_id: str) -> ResourceNotFound:
    return ResourceNotFound(f"Model '{model_id}' not found")


def _persisted(m: LoggedModel) -> dict[str, Any]:
    return {
        "artifact_location": m.artifact_location,
        "creation_timestamp": m.creation_timestamp,
        "experiment_id": m.experiment_id,
        "last_updated_timestamp": m.last_updated_timestamp,
        "model_id": m.model_id,
        "model_type": m.model_type,
        "name": m.name,
        "source_run_id": m.source_run_id,
        "status": m.status,
        "status_message": m.status_message,
    }


def _model_metrics(model_dir: str, model_id: str) -> list[Metric]:
    """Per metric key and dataset, the point with the max (step, timestamp, value)."""
    metrics_dir = os.path.join(model_dir, METRICS)
    out: list[Metric] = []
    for key in list_dir_files(metrics_dir):
        groups: dict[tuple[str | None, str | None], list[Metric]] = {}
        with open(os.path.join(metrics_dir, key), encoding="utf-8") as f:
            for line in f:
                parts = line.strip().split(" ")
                if len(parts) not in (4, 6):
                    continue
                m = Metric(
                    key=key,
                    value=float(parts[1]),
                    timestamp=int(parts[0]),
                    step=int(parts[2]),
                    dataset_name=parts[4] if len(parts) == 6 else None,
                    dataset_digest=parts[5] if len(parts) == 6 else None,
                    model_id=model_id,
                    run_id=parts[3],
                )
                groups.setdefault((m.dataset_name, m.dataset_digest), []).append(m)
        out.extend(max(g, key=lambda m: (m.step, m.timestamp, m.value)) for g in groups.values())
    return out


def _read_model(model_dir: str) -> tuple[LoggedModel, str | None]:
    """The model in ``model_dir`` and its meta.yaml ``lifecycle_stage`` (may be absent)."""
    meta = read_yaml(model_dir)
    model_id = str(meta["model_id"])
    model = LoggedModel(
        model_id=model_id,
        experiment_id=str(meta["experiment_id"]),
        name=meta.get("name") or "",
        artifact_location=meta.get("artifact_location") or "",
        creation_timestamp=meta.get("creation_timestamp") or 0,
        last_updated_timestamp=meta.get("last_updated_timestamp") or 0,
        status=int(meta.get("status") or 0),
        lifecycle_stage=meta.get("lifecycle_stage") or LifecycleStage.ACTIVE.value,
        model_type=meta.get("model_type"),
        source_run_id=meta.get("source_run_id"),
        status_message=meta.get("status_message"),
        tags=read_values(os.path.join(model_dir, TAGS)),
        params=read_values(os.path.join(model_dir, PARAMS)),
        metrics=_model_metrics(model_dir, model_id),
    )
    return model, meta.get("lifecycle_stage")


class FileLoggedModelStore:
    """The :class:`~aiotrack.store.registry_base.LoggedModelStore` of a file store."""

    def __init__(self, root: FileRoot) -> None:
        self.root = root

    async def _write(self, fn: Callable[[], Any]) -> Any:
        def locked() -> Any:
            with self.root.lock:
                return fn()

        return await asyncio.to_thread(locked)

    def _find(self, model_id: str) -> tuple[str, str] | None:
        """``(experiment_id, model_dir)`` of a model, searching every experiment."""
        if not model_id or "/" in model_id or model_id in (".", ".."):
            return None
        for exp_id in self.root.active_experiment_ids() + self.root.deleted_experiment_ids():
            exp_dir = self.root.experiment_dir(exp_id)
            if exp_dir is None:
                continue
            model_dir = os.path.join(exp_dir, MODELS, model_id)
            if os.path.isdir(model_dir):
                return exp_id, model_dir
        return None

    def _load(self, model_id: str, *, allow_deleted: bool = False) -> tuple[LoggedModel, str]:
        found = self._find(model_id)
        if found is None:
            raise _not_found(model_id)
        exp_id, model_dir = found
        try:
            model, stage = _read_model(model_dir)
        except (MalformedError, KeyError):
            raise _not_found(model_id) from None
        if stage == LifecycleStage.DELETED and not allow_deleted:
            raise _not_found(model_id)
        if model.experiment_id != exp_id:
            raise InvalidState(f"Model '{model_id}' metadata is in invalid state.")
        return model, model_dir

    async def create_logged_model(
        self,
        *,
        experiment_id: str,
        name: str | None,
        model_type: str | None,
        source_run_id: str | None,
        params: Sequence[Tag],
        tags: Sequence[Tag],
    ) -> LoggedModel:
        if name is not None and any(c in name for c in _BAD_NAME_CHARS):
            raise InvalidParameter(
                f"Invalid model name ({name!r}) provided. Model name must not contain any of "
                f"the following characters: {', '.join(_BAD_NAME_CHARS)}"
            )
        checked = [self._param(p) for p in params]
        for t in tags:
            validate_tag_name(t.key)
        model_id = f"m-{uuid.uuid4().hex}"

        def create() -> LoggedModel:
            experiment = exps.get_experiment(self.root, experiment_id)
            if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
                # MLflow: INVALID_STATE, a 500 the client retries; a client mistake is a 400.
                raise InvalidParameter(
                    f"Could not create model under non-active experiment with ID {experiment_id}."
                )
            exp_dir = self.root.experiment_dir(experiment_id)
            assert exp_dir is not None
            now = _now_ms()
            model = LoggedModel(
                model_id=model_id,
                experiment_id=experiment_id,
                name=name or random_run_name(),
                artifact_location=append_path(
                    experiment.artifact_location or "", MODELS, model_id, "artifacts"
                ),
                creation_timestamp=now,
                last_updated_timestamp=now,
                status=1,
                lifecycle_stage=LifecycleStage.ACTIVE.value,
                model_type=model_type,
                source_run_id=source_run_id,
                status_message=None,
            )
            model_dir = os.path.join(exp_dir, MODELS, model_id)
            os.makedirs(os.path.join(model_dir, METRICS))
            os.makedirs(os.path.join(model_dir, PARAMS))
            write_yaml(model_dir, {**_persisted(model), "lifecycle_stage": "active"})
            for p in checked:
                write_text(os.path.join(model_dir, PARAMS, p.key), p.value)
            for t in tags:
                write_text(os.path.join(model_dir, TAGS, t.key), t.value)
            return self._load(model_id)[0]

        result: LoggedModel = await self._write(create)
        return result

    def _param(self, p: Tag) -> Tag:
        validate_param_name(p.key)
        return Tag(p.key, limit_length("Param value", MAX_PARAM_VALUE_LENGTH, p.value))

    async def get_logged_model(self, model_id: str, *, allow_deleted: bool = False) -> LoggedModel:
        model, _ = await asyncio.to_thread(self._load, model_id, allow_deleted=allow_deleted)
        return model

    async def finalize_logged_model(self, model_id: str, status: int) -> LoggedModel:
        if status not in _STATUS_NAMES:
            raise InvalidParameter(f"Unknown model status: {status}")

        def finalize() -> LoggedModel:
            model, model_dir = self._load(model_id)
            updated = _persisted(model)
            updated.update(status=status, last_updated_timestamp=_now_ms())
            write_yaml(model_dir, updated)  # as MLflow: without lifecycle_stage
            return self._load(model_id)[0]

        result: LoggedModel = await self._write(finalize)
        return result

    async def delete_logged_model(self, model_id: str) -> None:
        def delete() -> None:
            model, model_dir = self._load(model_id)
            data = _persisted(model)
            data.update(last_updated_timestamp=_now_ms(), lifecycle_stage="deleted")
            write_yaml(model_dir, data)

        await self._write(delete)

    async def set_logged_model_tags(self, model_id: str, tags: Sequence[Tag]) -> None:
        def set_tags() -> None:
            _, model_dir = self._load(model_id)
            for t in tags:
                validate_tag_name(t.key)
                write_text(os.path.join(model_dir, TAGS, t.key), t.value)

        await self._write(set_tags)

    async def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        validate_tag_name(key)

        def delete() -> None:
            _, model_dir = self._load(model_id)
            path = os.path.join(model_dir, TAGS, key)
            if not os.path.isfile(path):
                raise ResourceNotFound(
                    f"No tag with key {key!r} found for model with ID {model_id!r}."
                )
            os.remove(path)

        await self._write(delete)

    async def log_logged_model_params(self, model_id: str, params: Sequence[Tag]) -> None:
        checked = [self._param(p) for p in params]

        def log() -> None:
            _, model_dir = self._load(model_id)
            for p in checked:
                write_text(os.path.join(model_dir, PARAMS, p.key), p.value)

        await self._write(log)

    async def add_model_version_registration(self, model_id: str, name: str, version: int) -> None:
        """Not reached: the registry is not served on a file backend."""
        raise InvalidParameter("The model registry is not available on a file-store backend")

    def _all_models(self, experiment_ids: Sequence[str]) -> list[LoggedModel]:
        out: list[LoggedModel] = []
        for exp_id in experiment_ids:
            exp_dir = self.root.experiment_dir(exp_id)
            if exp_dir is None:
                continue
            models_dir = os.path.join(exp_dir, MODELS)
            for name in list_subdirs(models_dir):
                try:
                    model, stage = _read_model(os.path.join(models_dir, name))
                except (MalformedError, KeyError, ValueError):
                    continue
                if stage != LifecycleStage.DELETED and model.experiment_id == exp_id:
                    out.append(model)
        return out

    async def search_logged_models(
        self,
        *,
        experiment_ids: Sequence[str],
        filter_string: str | None,
        datasets: Sequence[dict[str, Any]],
        max_results: int,
        order_by: Sequence[dict[str, Any]],
        page_token: str | None,
    ) -> Page[LoggedModel]:
        if datasets and not all(d.get("dataset_name") for d in datasets):
            raise InvalidParameter("`dataset_name` in the `datasets` clause must be specified.")
        filters = parse_logged_model_filter(filter_string)
        orders = [_parse_order(o) for o in order_by]
        offset = decode_offset(page_token)
        models = await asyncio.to_thread(self._all_models, list(experiment_ids))
        if datasets and not any(c.entity == "metric" for c in filters):
            models = [
                m for m in models if any(_on_dataset(x, d) for x in m.metrics for d in datasets)
            ]
        models = [m for m in models if all(_matches(m, c, datasets) for c in filters)]
        models.sort(key=_sort_key(orders))
        size = max_results or DEFAULT_MAX_RESULTS
        end = offset + size
        return Page(models[offset:end], encode_offset(end) if end < len(models) else None)


def _on_dataset(m: Metric, d: dict[str, Any]) -> bool:
    digest = d.get("dataset_digest")
    return m.dataset_name == d.get("dataset_name") and (
        digest is None or digest == m.dataset_digest
    )


def _attribute(m: LoggedModel, key: str) -> Any:
    if key == "status":
        return _STATUS_NAMES.get(m.status)
    if key in ("creation_timestamp", "creation_time"):
        return m.creation_timestamp
    if key in ("last_updated_timestamp", "last_updated_time"):
        return m.last_updated_timestamp
    return getattr(m, key, None)


def _matches(m: LoggedModel, c: Comparison, datasets: Sequence[dict[str, Any]]) -> bool:
    value: Any = c.value
    if c.entity == "metric":
        found = [x for x in m.metrics if x.key == c.key]
        if datasets:
            found = [x for x in found if any(_on_dataset(x, d) for d in datasets)]
        lhs: Any = found[0].value if found else None
        value = float(value)
    elif c.entity == "param":
        lhs = {p.key: p.value for p in m.params}.get(c.key)
    elif c.entity == "tag":
        lhs = {t.key: t.value for t in m.tags}.get(c.key)
    else:
        lhs = _attribute(m, c.key)
    if lhs is None:
        return False
    return compare(c.op, lhs, value)


class _Key:
    """One sort key of MLflow's logged-model sort (``None`` last for metrics, both ways)."""

    __slots__ = ("ascending", "obj")

    def __init__(self, obj: Any, ascending: bool) -> None:
        self.obj, self.ascending = obj, ascending

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and other.obj == self.obj

    def __lt__(self, other: _Key) -> bool:
        # MLflow compares ascending attributes raw (a None there fails it); None sorts last.
        if self.obj is None:
            return False
        if other.obj is None:
            return True
        return bool(self.obj < other.obj) if self.ascending else bool(other.obj < self.obj)

    __hash__ = None  # type: ignore[assignment]


def _parse_order(o: dict[str, Any]) -> dict[str, Any]:
    field_name = str(o.get("field_name") or "")
    if "." in field_name:
        entity = field_name.split(".", 1)[0]
        if entity != "metrics":
            raise InvalidParameter(
                f"Invalid order by field name: {entity}, only `metrics.<name>` is allowed."
            )
    else:
        field_name = field_name.strip()
        if field_name not in _ORDER_KEYS:
            raise InvalidParameter(f"Invalid order by field name: {field_name}.")
    if o.get("dataset_digest") and not o.get("dataset_name"):
        raise InvalidParameter(
            "`dataset_digest` can only be specified if `dataset_name` is also specified."
        )
    if field_name == "creation_time":
        field_name = "creation_timestamp"
    return {**o, "field_name": field_name, "ascending": o.get("ascending", True) is not False}


def _sort_key(orders: list[dict[str, Any]]) -> Callable[[LoggedModel], tuple[_Key, ...]]:
    keys = list(orders)
    if not any(o["field_name"] == "creation_timestamp" for o in keys):
        keys.append({"field_name": "creation_timestamp", "ascending": False})
    if not any(o["field_name"] == "model_id" for o in keys):
        keys.append({"field_name": "model_id", "ascending": True})

    def one(m: LoggedModel, o: dict[str, Any]) -> _Key:
        name = o["field_name"]
        if "." in name:
            key = name.split(".", 1)[1]
            found = sorted(
                (
                    x
                    for x in m.metrics
                    if x.key == key
                    and (not o.get("dataset_name") or x.dataset_name == o["dataset_name"])
                    and (not o.get("dataset_digest") or x.dataset_digest == o["dataset_digest"])
                ),
                key=lambda x: x.timestamp,
                reverse=True,
            )
            return _Key(found[0].value if found else None, o["ascending"])
        return _Key(_attribute(m, name), o["ascending"])

    return lambda m: tuple(one(m, o) for o in keys)
