"""MLflow 3 logged models in the tracking database (reference §4.2, §8.3).

Same tables and semantics as MLflow 3.17.2's tracking ``SqlAlchemyStore``: ids are
``m-<32 hex>``, new models are ``LOGGED_MODEL_PENDING`` with the artifact location
``<experiment artifact_location>/models/<model_id>/artifacts``, deletion is soft (``get`` then
answers 404 unless ``allow_deleted``), and metrics logged by runs with a ``model_id`` land in
``logged_model_metrics`` (:meth:`SqlLoggedModelStore.link_metrics`, a hook of the tracking
store's group-commit writer, inside the same transaction).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import time
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, literal, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from aiotrack.errors import InvalidParameter, ResourceNotFound
from aiotrack.names import random_run_name
from aiotrack.search.ast import Comparison
from aiotrack.search.limits import check_experiment_ids, check_order_by_count
from aiotrack.search.parser import parse_logged_model_filter
from aiotrack.store.entities import LifecycleStage, Metric, Page, Tag
from aiotrack.store.registry_entities import LoggedModel, LoggedModelStatus
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.dialects import insert_ignore, upsert
from aiotrack.store.sql.logwriter import stored_metric
from aiotrack.store.sql.schema.logged_models import (
    SqlLoggedModel,
    SqlLoggedModelMetric,
    SqlLoggedModelParam,
    SqlLoggedModelTag,
)
from aiotrack.store.sql.schema.tracking import SqlExperiment
from aiotrack.store.sql.search import compare as compare_op
from aiotrack.store.sql.search import ids_in
from aiotrack.uris import append_path
from aiotrack.validation import parse_experiment_id

__all__ = ["MODEL_VERSIONS_TAG", "SqlLoggedModelStore", "insert_logged_model_metrics"]

#: The logged-model tag listing the registry versions made from it (JSON list).
MODEL_VERSIONS_TAG = "mlflow.modelVersions"
DEFAULT_MAX_RESULTS = 100
_BAD_NAME_CHARS = ("/", ":", ".", "%", '"', "'")

LM, LMM, LMP, LMT = SqlLoggedModel, SqlLoggedModelMetric, SqlLoggedModelParam, SqlLoggedModelTag

#: Attribute names (and MLflow's aliases) a filter or order_by may use, mapped to columns.
_ATTRIBUTES: dict[str, Any] = {
    "model_id": LM.model_id,
    "experiment_id": LM.experiment_id,
    "name": LM.name,
    "artifact_location": LM.artifact_location,
    "creation_timestamp_ms": LM.creation_timestamp_ms,
    "creation_timestamp": LM.creation_timestamp_ms,
    "creation_time": LM.creation_timestamp_ms,
    "last_updated_timestamp_ms": LM.last_updated_timestamp_ms,
    "last_updated_timestamp": LM.last_updated_timestamp_ms,
    "status": LM.status,
    "lifecycle_stage": LM.lifecycle_stage,
    "model_type": LM.model_type,
    "source_run_id": LM.source_run_id,
    "status_message": LM.status_message,
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def insert_logged_model_metrics(
    conn: Connection, dialect: str, run_id: str, experiment_id: int, metrics: Sequence[Metric]
) -> None:
    """Copy the points that carry a ``model_id`` into ``logged_model_metrics`` (duplicates of
    the primary key are dropped). No-op, without a query, when none carries one. An unknown
    ``model_id`` violates the foreign key and fails the request with 400 ``BAD_REQUEST``."""
    linked = [m for m in metrics if m.model_id]
    if not linked:
        return
    rows = [
        {
            "model_id": m.model_id,
            "metric_name": m.key,
            "metric_timestamp_ms": m.timestamp,
            "metric_step": m.step,
            "metric_value": stored_metric(m.value)[0],
            "experiment_id": experiment_id,
            "run_id": run_id,
            "dataset_uuid": None,
            "dataset_name": m.dataset_name,
            "dataset_digest": m.dataset_digest,
        }
        for m in linked
    ]
    conn.execute(insert_ignore(dialect, LMM.__table__), rows)


def _encode_token(offset: int, experiment_ids: list[str], flt: str | None, order: Any) -> str:
    body = {
        "experiment_ids": experiment_ids,
        "filter_string": flt,
        "order_by": order,
        "offset": offset,
    }
    return base64.b64encode(json.dumps(body).encode()).decode()


def _decode_token(token: str, experiment_ids: list[str], flt: str | None, order: Any) -> int:
    """The offset of a token MLflow's format; it must belong to the same query."""
    try:
        data = json.loads(base64.b64decode(token.encode()).decode())
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameter(f"Invalid page token: {token}. {exc}") from None
    if not isinstance(data, dict):
        raise InvalidParameter(f"Invalid page token: {token}.")
    if data.get("experiment_ids") != experiment_ids:
        raise InvalidParameter(
            "Experiment IDs in the page token do not match the requested experiment IDs. "
            f"Expected: {experiment_ids}. Found: {data.get('experiment_ids')}"
        )
    if (data.get("filter_string") or None) != flt:
        raise InvalidParameter(
            "Filter string in the page token does not match the requested filter string. "
            f"Expected: {flt}. Found: {data.get('filter_string')}"
        )
    if (data.get("order_by") or None) != order:
        raise InvalidParameter(
            "Order by in the page token does not match the requested order by. "
            f"Expected: {order}. Found: {data.get('order_by')}"
        )
    offset = data.get("offset") or 0
    if not isinstance(offset, int) or offset < 0:
        raise InvalidParameter(f"Invalid page token: {token}.")
    return offset


class SqlLoggedModelStore:
    """Logged models over the tracking store's ``Database``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def link_metrics(
        self, conn: Connection, run_id: str, experiment_id: int, metrics: Sequence[Metric]
    ) -> None:
        """A ``logwriter.MetricHook``: runs (synchronously) inside the log writer's group
        transaction, on the writer thread for SQLite."""
        insert_logged_model_metrics(conn, self.db.dialect, run_id, experiment_id, metrics)

    async def _row(self, conn: AsyncConnection, model_id: str, *, allow_deleted: bool) -> Any:
        stmt = select(LM).where(LM.model_id == model_id)
        if not allow_deleted:
            stmt = stmt.where(LM.lifecycle_stage != LifecycleStage.DELETED.value)
        row = (await conn.execute(stmt)).first()
        if row is None:
            raise ResourceNotFound(f"Logged model with ID '{model_id}' not found.")
        return row

    async def _load(self, conn: AsyncConnection, rows: Sequence[Any]) -> list[LoggedModel]:
        """Entities with tags, params and metrics: one query each for the whole page."""
        ids = [r.model_id for r in rows]
        tags: dict[str, list[Tag]] = {}
        params: dict[str, list[Tag]] = {}
        metrics: dict[str, list[Metric]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            for t in await conn.execute(select(LMT).where(LMT.model_id.in_(chunk))):
                tags.setdefault(t.model_id, []).append(Tag(t.tag_key, t.tag_value))
            for p in await conn.execute(select(LMP).where(LMP.model_id.in_(chunk))):
                params.setdefault(p.model_id, []).append(Tag(p.param_key, p.param_value))
            for m in await conn.execute(select(LMM).where(LMM.model_id.in_(chunk))):
                metrics.setdefault(m.model_id, []).append(
                    Metric(
                        key=m.metric_name,
                        value=m.metric_value if m.metric_value is not None else math.nan,
                        timestamp=m.metric_timestamp_ms,
                        step=m.metric_step,
                        dataset_name=m.dataset_name,
                        dataset_digest=m.dataset_digest,
                        model_id=m.model_id,
                        run_id=m.run_id,
                    )
                )
        return [
            LoggedModel(
                model_id=r.model_id,
                experiment_id=str(r.experiment_id),
                name=r.name,
                artifact_location=r.artifact_location,
                creation_timestamp=r.creation_timestamp_ms,
                last_updated_timestamp=r.last_updated_timestamp_ms,
                status=r.status,
                lifecycle_stage=r.lifecycle_stage,
                model_type=r.model_type,
                source_run_id=r.source_run_id,
                status_message=r.status_message,
                tags=tags.get(r.model_id, []),
                params=params.get(r.model_id, []),
                metrics=metrics.get(r.model_id, []),
            )
            for r in rows
        ]

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
        """A new PENDING model in an active experiment; ``name`` defaults to a run-style name."""
        if name is not None and (not name or any(c in name for c in _BAD_NAME_CHARS)):
            raise InvalidParameter(
                f"Invalid model name ({name!r}) provided. Model name must be a non-empty string "
                f"and cannot contain the following characters: {_BAD_NAME_CHARS}"
            )
        exp_id = parse_experiment_id(experiment_id)
        model_id = f"m-{uuid.uuid4().hex}"
        now = _now_ms()
        async with self.db.write() as conn:
            exp = (
                await conn.execute(
                    select(SqlExperiment.artifact_location, SqlExperiment.lifecycle_stage).where(
                        SqlExperiment.experiment_id == exp_id
                    )
                )
            ).first()
            if exp is None:
                raise ResourceNotFound(f"No Experiment with id={experiment_id} exists")
            if exp.lifecycle_stage != LifecycleStage.ACTIVE:
                raise InvalidParameter(
                    f"The experiment {exp_id} must be in the 'active' state. "
                    f"Current state is {exp.lifecycle_stage}."
                )
            await conn.execute(
                insert(LM).values(
                    model_id=model_id,
                    experiment_id=exp_id,
                    name=name or random_run_name(),
                    artifact_location=append_path(
                        exp.artifact_location or "", "models", model_id, "artifacts"
                    ),
                    creation_timestamp_ms=now,
                    last_updated_timestamp_ms=now,
                    status=int(LoggedModelStatus.LOGGED_MODEL_PENDING),
                    lifecycle_stage=LifecycleStage.ACTIVE.value,
                    model_type=model_type,
                    source_run_id=source_run_id,
                )
            )
            await self._insert_params(conn, model_id, exp_id, params)
            await self._upsert_tags(conn, model_id, exp_id, tags)
            row = await self._row(conn, model_id, allow_deleted=True)
            return (await self._load(conn, [row]))[0]

    async def _insert_params(
        self, conn: AsyncConnection, model_id: str, exp_id: int, params: Sequence[Tag]
    ) -> None:
        last = {p.key: p.value for p in params}
        if last:
            await conn.execute(
                insert_ignore(self.db.dialect, LMP.__table__),
                [
                    {
                        "model_id": model_id,
                        "experiment_id": exp_id,
                        "param_key": k,
                        "param_value": v,
                    }
                    for k, v in last.items()
                ],
            )

    async def _upsert_tags(
        self, conn: AsyncConnection, model_id: str, exp_id: int, tags: Sequence[Tag]
    ) -> None:
        last = {t.key: t.value for t in tags}
        if last:
            await conn.execute(
                upsert(self.db.dialect, LMT.__table__, ["model_id", "tag_key"], ["tag_value"]),
                [
                    {"model_id": model_id, "experiment_id": exp_id, "tag_key": k, "tag_value": v}
                    for k, v in last.items()
                ],
            )

    async def get_logged_model(self, model_id: str, *, allow_deleted: bool = False) -> LoggedModel:
        async with self.db.read() as conn:
            row = await self._row(conn, model_id, allow_deleted=allow_deleted)
            return (await self._load(conn, [row]))[0]

    async def finalize_logged_model(self, model_id: str, status: int) -> LoggedModel:
        if status not in LoggedModelStatus._value2member_map_:
            raise InvalidParameter(f"Unknown model status: {status}")
        async with self.db.write() as conn:
            await self._row(conn, model_id, allow_deleted=True)
            await conn.execute(
                update(LM)
                .where(LM.model_id == model_id)
                .values(status=status, last_updated_timestamp_ms=_now_ms())
            )
            row = await self._row(conn, model_id, allow_deleted=True)
            return (await self._load(conn, [row]))[0]

    async def delete_logged_model(self, model_id: str) -> None:
        async with self.db.write() as conn:
            await self._row(conn, model_id, allow_deleted=True)
            await conn.execute(
                update(LM)
                .where(LM.model_id == model_id)
                .values(
                    lifecycle_stage=LifecycleStage.DELETED.value,
                    last_updated_timestamp_ms=_now_ms(),
                )
            )

    async def set_logged_model_tags(self, model_id: str, tags: Sequence[Tag]) -> None:
        async with self.db.write() as conn:
            row = await self._row(conn, model_id, allow_deleted=True)
            await self._upsert_tags(conn, model_id, row.experiment_id, tags)

    async def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        async with self.db.write() as conn:
            await self._row(conn, model_id, allow_deleted=True)
            result = await conn.execute(
                delete(LMT).where(LMT.model_id == model_id, LMT.tag_key == key)
            )
            if result.rowcount == 0:
                raise ResourceNotFound(
                    f"No tag with key {key!r} found for model with ID {model_id!r}."
                )

    async def log_logged_model_params(self, model_id: str, params: Sequence[Tag]) -> None:
        async with self.db.write() as conn:
            row = await self._row(conn, model_id, allow_deleted=True)
            await self._insert_params(conn, model_id, row.experiment_id, params)

    async def add_model_version_registration(self, model_id: str, name: str, version: int) -> None:
        """Record ``{"name", "version"}`` in the model's ``mlflow.modelVersions`` tag."""
        async with self.db.write() as conn:
            row = await self._row(conn, model_id, allow_deleted=False)
            current = (
                await conn.execute(
                    select(LMT.tag_value).where(
                        LMT.model_id == model_id, LMT.tag_key == MODEL_VERSIONS_TAG
                    )
                )
            ).scalar()
            entry = {"name": name, "version": version}
            versions = [entry]
            if current:
                existing = json.loads(current)
                if entry not in existing:
                    versions = [*existing, entry]
                else:
                    versions = existing
            await self._upsert_tags(
                conn, model_id, row.experiment_id, [Tag(MODEL_VERSIONS_TAG, json.dumps(versions))]
            )

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
        """Active models of the experiments matching the filter, in the requested order."""
        if datasets and not all(d.get("dataset_name") for d in datasets):
            raise InvalidParameter("`dataset_name` in the `datasets` clause must be specified.")
        exp_list = list(experiment_ids)
        check_experiment_ids(exp_list)
        check_order_by_count(order_by)
        order_list = [dict(o) for o in order_by] or None
        offset = _decode_token(page_token, exp_list, filter_string, order_list) if page_token else 0
        max_results = max_results or DEFAULT_MAX_RESULTS

        def prepare() -> Any:
            comparisons = parse_logged_model_filter(filter_string)
            dataset_conds = [
                and_(
                    LMM.dataset_name == d["dataset_name"],
                    *(
                        [LMM.dataset_digest == d["dataset_digest"]]
                        if d.get("dataset_digest")
                        else []
                    ),
                )
                for d in datasets
            ]
            ids = [parse_experiment_id(e) for e in exp_list]
            stmt = select(LM).where(
                LM.lifecycle_stage != LifecycleStage.DELETED.value,
                ids_in(LM.experiment_id, ids, self.db.dialect),
                *[_filter_clause(c, dataset_conds) for c in comparisons],
            )
            if dataset_conds and not any(c.entity == "metric" for c in comparisons):
                stmt = stmt.where(LM.model_id.in_(select(LMM.model_id).where(or_(*dataset_conds))))
            stmt = _apply_order(stmt, order_list or [])
            return stmt.offset(offset).limit(max_results + 1)

        # Hundreds of clauses or thousands of ids take tens of ms to parse and build: off the
        # event loop, so that other requests are not held up.
        if len(filter_string or "") > 2000 or len(exp_list) > 1000:
            stmt = await asyncio.to_thread(prepare)
        else:
            stmt = prepare()
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
            items = await self._load(conn, rows[:max_results])
        token = None
        if len(rows) > max_results:
            token = _encode_token(offset + max_results, exp_list, filter_string, order_list)
        return Page(items, token)


def _filter_clause(c: Comparison, dataset_conds: Sequence[Any]) -> Any:
    def compare(column: Any, value: Any) -> Any:
        return compare_op(c.op, column, value)

    if c.entity == "attribute":
        value = c.value
        if c.key == "status" and isinstance(value, str):
            # Statuses are stored as their enum number; accept the names as well.
            names = LoggedModelStatus.__members__
            value = int(names[value]) if value in names else value
        return compare(_ATTRIBUTES[c.key], value)
    if c.entity == "metric":
        conds = [compare_op("=", LMM.metric_name, c.key), compare(LMM.metric_value, c.value)]
        if dataset_conds:
            conds.append(or_(*dataset_conds))
        return LM.model_id.in_(select(LMM.model_id).where(*conds))
    if c.entity == "param":
        return LM.model_id.in_(
            select(LMP.model_id).where(
                compare_op("=", LMP.param_key, c.key), compare(LMP.param_value, c.value)
            )
        )
    return LM.model_id.in_(
        select(LMT.model_id).where(
            compare_op("=", LMT.tag_key, c.key), compare(LMT.tag_value, c.value)
        )
    )


def _apply_order(stmt: Any, order_by: Sequence[dict[str, Any]]) -> Any:
    """MLflow's order: the requested keys with missing values last, then
    ``creation_timestamp DESC, model_id ASC`` unless already named."""
    terms: list[Any] = []
    has_created = has_id = False
    for i, ob in enumerate(order_by):
        field_name = str(ob.get("field_name") or "")
        ascending = ob.get("ascending", True) is not False
        if "." not in field_name:
            col = _ATTRIBUTES.get(field_name)
            if col is None:
                raise InvalidParameter(f"Invalid order by field name: {field_name}")
            has_created |= col is LM.creation_timestamp_ms
            has_id |= col is LM.model_id
        else:
            entity, key = field_name.split(".", 1)
            if entity != "metrics":
                raise InvalidParameter(
                    f"Invalid order by field name: {field_name}. Only metrics are supported."
                )
            conds = [LMM.metric_name == key]
            if ob.get("dataset_name"):
                conds.append(LMM.dataset_name == ob["dataset_name"])
            if ob.get("dataset_digest"):
                conds.append(LMM.dataset_digest == ob["dataset_digest"])
            ranked = (
                select(
                    LMM.model_id,
                    LMM.metric_value,
                    func.row_number()
                    .over(
                        partition_by=(LMM.model_id, LMM.metric_name),
                        order_by=(
                            LMM.metric_timestamp_ms.desc(),
                            LMM.metric_step.desc(),
                            LMM.run_id.asc(),
                        ),
                    )
                    .label("rn"),
                )
                .where(*conds)
                .subquery()
            )
            latest = (
                select(ranked.c.model_id, ranked.c.metric_value)
                .where(ranked.c.rn == 1)
                .subquery(f"order_metric_{i}")
            )
            stmt = stmt.outerjoin(latest, latest.c.model_id == LM.model_id)
            col = latest.c.metric_value
        terms += [
            case((col.is_(None), literal(1)), else_=literal(0)).asc(),
            col.asc() if ascending else col.desc(),
        ]
    if not has_created:
        terms.append(LM.creation_timestamp_ms.desc())
    if not has_id:
        terms.append(LM.model_id.asc())
    return stmt.order_by(*terms)
