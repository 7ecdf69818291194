"""Loading registry rows into entities: tags, aliases and per-stage latest versions, one query
per kind for a whole page (no N+1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from aiotrack.store.entities import Tag
from aiotrack.store.registry_entities import (
    STAGE_DELETED_INTERNAL,
    ModelVersion,
    RegisteredModel,
    RegisteredModelAlias,
)
from aiotrack.store.sql.schema.registry import (
    SqlModelVersion as MV,
)
from aiotrack.store.sql.schema.registry import (
    SqlModelVersionTag as MVT,
)
from aiotrack.store.sql.schema.registry import (
    SqlRegisteredModelAlias as RMA,
)
from aiotrack.store.sql.schema.registry import (
    SqlRegisteredModelTag as RMT,
)

__all__ = ["WORKSPACE", "load_aliases", "load_models", "load_versions"]

#: The only workspace aiotrack serves (MLflow's default one).
WORKSPACE = "default"


def _mv_from_row(row: Any, tags: list[Tag], aliases: list[str]) -> ModelVersion:
    return ModelVersion(
        name=row.name,
        version=row.version,
        creation_timestamp=row.creation_time,
        last_updated_timestamp=row.last_updated_time,
        description=row.description,
        user_id=row.user_id,
        current_stage=row.current_stage,
        source=row.source,
        run_id=row.run_id,
        status=row.status,
        status_message=row.status_message,
        run_link=row.run_link,
        storage_location=row.storage_location,
        tags=tags,
        aliases=aliases,
    )


async def load_versions(
    conn: AsyncConnection, rows: Sequence[Any], *, with_aliases: bool = True
) -> list[ModelVersion]:
    """Entities for model-version rows, their tags (and aliases) in one query each."""
    if not rows:
        return []
    names = sorted({r.name for r in rows})
    tags: dict[tuple[str, int], list[Tag]] = {}
    for i in range(0, len(names), 500):
        for t in await conn.execute(
            select(MVT.name, MVT.version, MVT.key, MVT.value).where(
                MVT.workspace == WORKSPACE, MVT.name.in_(names[i : i + 500])
            )
        ):
            tags.setdefault((t.name, t.version), []).append(Tag(t.key, t.value or ""))
    aliases: dict[tuple[str, int], list[str]] = {}
    if with_aliases:
        for name, alias_list in (await load_aliases(conn, names)).items():
            for a in alias_list:
                aliases.setdefault((name, a.version), []).append(a.alias)
    return [
        _mv_from_row(r, tags.get((r.name, r.version), []), aliases.get((r.name, r.version), []))
        for r in rows
    ]


async def load_aliases(
    conn: AsyncConnection, names: Sequence[str]
) -> dict[str, list[RegisteredModelAlias]]:
    out: dict[str, list[RegisteredModelAlias]] = {}
    for i in range(0, len(names), 500):
        for a in await conn.execute(
            select(RMA.name, RMA.alias, RMA.version).where(
                RMA.workspace == WORKSPACE, RMA.name.in_(names[i : i + 500])
            )
        ):
            out.setdefault(a.name, []).append(RegisteredModelAlias(a.alias, a.version))
    return out


async def load_models(conn: AsyncConnection, rows: Sequence[Any]) -> list[RegisteredModel]:
    """Entities for registered-model rows with tags, aliases and per-stage latest versions."""
    if not rows:
        return []
    names = [r.name for r in rows]
    tags: dict[str, list[Tag]] = {}
    latest_rows: list[Any] = []
    for i in range(0, len(names), 500):
        chunk = names[i : i + 500]
        for t in await conn.execute(
            select(RMT.name, RMT.key, RMT.value).where(
                RMT.workspace == WORKSPACE, RMT.name.in_(chunk)
            )
        ):
            tags.setdefault(t.name, []).append(Tag(t.key, t.value or ""))
        ranked = (
            select(
                MV,
                func.row_number()
                .over(partition_by=(MV.name, MV.current_stage), order_by=MV.version.desc())
                .label("rn"),
            )
            .where(
                MV.workspace == WORKSPACE,
                MV.name.in_(chunk),
                MV.current_stage != STAGE_DELETED_INTERNAL,
            )
            .subquery()
        )
        latest_rows += (
            await conn.execute(
                select(ranked).where(ranked.c.rn == 1).order_by(ranked.c.name, ranked.c.version)
            )
        ).all()
    # As in MLflow, the versions inside a registered model carry tags but no aliases.
    latest: dict[str, list[ModelVersion]] = {}
    for mv in await load_versions(conn, latest_rows, with_aliases=False):
        latest.setdefault(mv.name, []).append(mv)
    aliases = await load_aliases(conn, names)
    return [
        RegisteredModel(
            name=r.name,
            creation_timestamp=r.creation_time,
            last_updated_timestamp=r.last_updated_time,
            description=r.description,
            latest_versions=latest.get(r.name, []),
            tags=tags.get(r.name, []),
            aliases=aliases.get(r.name, []),
        )
        for r in rows
    ]
