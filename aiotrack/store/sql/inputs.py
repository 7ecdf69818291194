"""Run inputs and outputs: datasets (de-duplicated per experiment), model inputs and outputs.

All are rows of MLflow's ``datasets``, ``inputs`` and ``input_tags`` tables; these helpers run
inside a transaction the store opened.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from aiotrack.errors import InvalidParameter
from aiotrack.store.entities import DatasetInput, DatasetSummary, ModelInput, ModelOutput
from aiotrack.store.sql.schema.tracking import SqlDataset, SqlInput, SqlInputTag

__all__ = [
    "insert_dataset_inputs",
    "insert_model_inputs",
    "insert_model_outputs",
    "load_model_io",
    "search_dataset_summaries",
    "validate_dataset_inputs",
]

DATASET_CONTEXT_TAG = "mlflow.data.context"
_LIMITS = (
    ("name", 500),
    ("digest", 36),
    ("source", 65535),
    ("schema", 1048575),
    ("profile", 16777215),
)


def validate_dataset_inputs(inputs: Sequence[DatasetInput]) -> None:
    """Field sizes of §6; a violation is a 400 before anything is written."""
    for d in inputs:
        for attr, limit in _LIMITS:
            value = getattr(d.dataset, attr)
            if value is not None and len(value) > limit:
                raise InvalidParameter(
                    f"Dataset {attr} exceeds the maximum length of {limit} characters"
                )
        for tag in d.tags:
            if len(tag.key) > 255:
                raise InvalidParameter("Input tag key exceeds the maximum length of 255")
            if len(tag.value) > 500:
                raise InvalidParameter("Input tag value exceeds the maximum length of 500")


async def insert_dataset_inputs(
    conn: AsyncConnection, experiment_id: int, run_id: str, inputs: Sequence[DatasetInput]
) -> None:
    """Link datasets to a run; a (name, digest) already in the experiment is reused."""
    unique: dict[tuple[str, str], DatasetInput] = {}
    for d in inputs:
        unique.setdefault((d.dataset.name, d.dataset.digest), d)
    if not unique:
        return
    names = [k[0] for k in unique]
    digests = [k[1] for k in unique]
    uuids: dict[tuple[str, str], str] = {
        (r.name, r.digest): r.dataset_uuid
        for r in await conn.execute(
            select(SqlDataset.name, SqlDataset.digest, SqlDataset.dataset_uuid).where(
                SqlDataset.experiment_id == experiment_id,
                SqlDataset.name.in_(names),
                SqlDataset.digest.in_(digests),
            )
        )
    }
    new_datasets: list[dict[str, Any]] = []
    for key, d in unique.items():
        if key not in uuids:
            uuids[key] = uuid.uuid4().hex
            new_datasets.append(
                {
                    "dataset_uuid": uuids[key],
                    "experiment_id": experiment_id,
                    "name": d.dataset.name,
                    "digest": d.dataset.digest,
                    "dataset_source_type": d.dataset.source_type,
                    "dataset_source": d.dataset.source,
                    "dataset_schema": d.dataset.schema,
                    "dataset_profile": d.dataset.profile,
                }
            )
    if new_datasets:
        await conn.execute(insert(SqlDataset), new_datasets)
    linked = set(
        (
            await conn.execute(
                select(SqlInput.source_id).where(
                    SqlInput.source_type == "DATASET",
                    SqlInput.source_id.in_(list(uuids.values())),
                    SqlInput.destination_type == "RUN",
                    SqlInput.destination_id == run_id,
                )
            )
        ).scalars()
    )
    new_inputs: list[dict[str, Any]] = []
    new_tags: list[dict[str, Any]] = []
    for key, d in unique.items():
        if uuids[key] in linked:
            continue
        input_uuid = uuid.uuid4().hex
        new_inputs.append(
            {
                "input_uuid": input_uuid,
                "source_type": "DATASET",
                "source_id": uuids[key],
                "destination_type": "RUN",
                "destination_id": run_id,
                "step": 0,
            }
        )
        new_tags.extend({"input_uuid": input_uuid, "name": t.key, "value": t.value} for t in d.tags)
    if new_inputs:
        await conn.execute(insert(SqlInput), new_inputs)
    if new_tags:
        await conn.execute(insert(SqlInputTag), new_tags)


async def _insert_edges(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    if rows:
        existing = set(
            (
                await conn.execute(
                    select(SqlInput.destination_id).where(
                        SqlInput.source_type == rows[0]["source_type"],
                        SqlInput.source_id == rows[0]["source_id"],
                        SqlInput.destination_type == rows[0]["destination_type"],
                        SqlInput.destination_id.in_([r["destination_id"] for r in rows]),
                    )
                )
            ).scalars()
        )
        fresh = {r["destination_id"]: r for r in rows if r["destination_id"] not in existing}
        if fresh:
            await conn.execute(insert(SqlInput), list(fresh.values()))


async def insert_model_inputs(
    conn: AsyncConnection, run_id: str, models: Sequence[ModelInput]
) -> None:
    await _insert_edges(
        conn,
        [
            {
                "input_uuid": uuid.uuid4().hex,
                "source_type": "RUN_INPUT",
                "source_id": run_id,
                "destination_type": "MODEL_INPUT",
                "destination_id": m.model_id,
                "step": 0,
            }
            for m in models
        ],
    )


async def insert_model_outputs(
    conn: AsyncConnection, run_id: str, models: Sequence[ModelOutput]
) -> None:
    await _insert_edges(
        conn,
        [
            {
                "input_uuid": uuid.uuid4().hex,
                "source_type": "RUN_OUTPUT",
                "source_id": run_id,
                "destination_type": "MODEL_OUTPUT",
                "destination_id": m.model_id,
                "step": m.step,
            }
            for m in models
        ],
    )


def load_model_io(
    conn: Connection, run_ids: Sequence[str]
) -> tuple[dict[str, list[ModelInput]], dict[str, list[ModelOutput]]]:
    """Model inputs and outputs of several runs, in one query."""
    inputs: dict[str, list[ModelInput]] = defaultdict(list)
    outputs: dict[str, list[ModelOutput]] = defaultdict(list)
    for i in range(0, len(run_ids), 500):
        rows = conn.execute(
            select(SqlInput.source_type, SqlInput.source_id, SqlInput.destination_id, SqlInput.step)
            .where(
                SqlInput.source_type.in_(["RUN_INPUT", "RUN_OUTPUT"]),
                SqlInput.source_id.in_(run_ids[i : i + 500]),
            )
            .order_by(SqlInput.source_id, SqlInput.destination_id)
        )
        for r in rows.all():
            if r.source_type == "RUN_INPUT":
                inputs[r.source_id].append(ModelInput(r.destination_id))
            else:
                outputs[r.source_id].append(ModelOutput(r.destination_id, r.step or 0))
    return inputs, outputs


async def search_dataset_summaries(
    conn: AsyncConnection, experiment_ids: Sequence[int]
) -> list[DatasetSummary]:
    """Distinct (experiment, name, digest, context) of datasets used in the experiments."""
    rows = await conn.execute(
        select(SqlDataset.experiment_id, SqlDataset.name, SqlDataset.digest, SqlInputTag.value)
        .select_from(SqlDataset)
        .distinct()
        .join(SqlInput, SqlInput.source_id == SqlDataset.dataset_uuid)
        .outerjoin(
            SqlInputTag,
            and_(
                SqlInput.input_uuid == SqlInputTag.input_uuid,
                SqlInputTag.name == DATASET_CONTEXT_TAG,
            ),
        )
        .where(SqlDataset.experiment_id.in_(experiment_ids))
        .limit(1000)
    )
    return [DatasetSummary(str(r[0]), r[1], r[2], r[3]) for r in rows]
