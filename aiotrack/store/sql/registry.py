"""The SQL model registry: registered models, versions, tags, aliases and stages (reference §4.3).

Same tables and semantics as MLflow 3.17.2's ``SqlAlchemyStore`` of the registry, in the
``default`` workspace: versions are numbered 1 + the highest number ever used (deleted versions
keep their row, redacted, in stage ``Deleted_Internal``), renames carry versions, tags and
aliases along through the schema's ``ON UPDATE CASCADE`` keys, and ``latest_versions`` is the
highest version of each stage. Every public write is one transaction through ``Database.write``.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

import aiotrack.store.sql.registry_search as rsearch
from aiotrack.errors import InvalidParameter, ResourceAlreadyExists, ResourceNotFound
from aiotrack.search.parser import (
    parse_model_version_filter,
    parse_model_version_order_by,
    parse_registered_model_filter,
    parse_registered_model_order_by,
)
from aiotrack.store.base import TrackingStore
from aiotrack.store.entities import Page, Tag
from aiotrack.store.pagination import decode_offset, encode_offset
from aiotrack.store.registry_base import LoggedModelStore
from aiotrack.store.registry_entities import (
    ACTIVE_STAGES,
    ALL_STAGES,
    STAGE_ARCHIVED,
    STAGE_DELETED_INTERNAL,
    STAGE_NONE,
    ModelVersion,
    RegisteredModel,
)
from aiotrack.store.sql.database import Database
from aiotrack.store.sql.dialects import upsert
from aiotrack.store.sql.registry_loading import (
    WORKSPACE,
    load_models,
    load_versions,
)
from aiotrack.store.sql.registry_sources import (
    PROMPT_SOURCE_PLACEHOLDERS,
    parse_model_uri,
    validate_source,
)
from aiotrack.store.sql.registry_validation import (
    canonical_stage,
    parse_version,
    validate_alias,
    validate_alias_not_reserved,
    validate_model_name,
    validate_registry_tag,
    validate_tag_key,
)
from aiotrack.store.sql.schema.registry import (
    SqlModelVersion,
    SqlModelVersionTag,
    SqlRegisteredModel,
    SqlRegisteredModelAlias,
    SqlRegisteredModelTag,
)

__all__ = ["SqlRegistryStore"]

MAX_REGISTERED_MODELS_PER_PAGE = 1000
MAX_MODEL_VERSIONS_PER_PAGE = 200_000
_DEFAULT_VERSION_ORDER = ["last_updated_timestamp DESC", "name ASC", "version_number DESC"]

RM, MV = SqlRegisteredModel, SqlModelVersion
RMT, MVT, RMA = SqlRegisteredModelTag, SqlModelVersionTag, SqlRegisteredModelAlias


def _now_ms() -> int:
    return int(time.time() * 1000)


class SqlRegistryStore:
    """MLflow's model registry over SQLAlchemy asyncio.

    ``tracking`` and ``logged_models`` answer the cross-store questions of
    ``create_model_version``: the artifact root of a source's run, and the artifact location of
    a ``models:/<model_id>`` source (they may live in another database).
    """

    def __init__(
        self, db: Database, *, tracking: TrackingStore, logged_models: LoggedModelStore
    ) -> None:
        self.db = db
        self.tracking = tracking
        self.logged_models = logged_models

    # ------------------------------------------------------------------ loading

    async def _model_row(self, conn: AsyncConnection, name: str) -> Any:
        validate_model_name(name)
        row = (
            await conn.execute(select(RM).where(RM.workspace == WORKSPACE, RM.name == name))
        ).first()
        if row is None:
            raise ResourceNotFound(f"Registered Model with name={name} not found")
        return row

    async def _version_row(self, conn: AsyncConnection, name: str, version: str | int) -> Any:
        validate_model_name(name)
        number = parse_version(version)
        row = (
            await conn.execute(
                select(MV).where(
                    MV.workspace == WORKSPACE,
                    MV.name == name,
                    MV.version == number,
                    MV.current_stage != STAGE_DELETED_INTERNAL,
                )
            )
        ).first()
        if row is None:
            raise ResourceNotFound(f"Model Version (name={name}, version={number}) not found")
        return row

    async def _touch_model(self, conn: AsyncConnection, name: str, now: int) -> None:
        await conn.execute(
            update(RM)
            .where(RM.workspace == WORKSPACE, RM.name == name)
            .values(last_updated_time=now)
        )

    # ------------------------------------------------------------------ registered models

    async def create_registered_model(
        self, name: str, tags: Sequence[Tag], description: str | None
    ) -> RegisteredModel:
        """Create a model; an existing name is 400 RESOURCE_ALREADY_EXISTS."""
        validate_model_name(name)
        for tag in tags:
            validate_registry_tag(tag.key, tag.value)
        now = _now_ms()
        async with self.db.write() as conn:
            exists = (
                await conn.execute(
                    select(RM.name).where(RM.workspace == WORKSPACE, RM.name == name)
                )
            ).first()
            if exists is not None:
                raise ResourceAlreadyExists(f"Registered Model (name={name}) already exists.")
            await conn.execute(
                insert(RM).values(
                    workspace=WORKSPACE,
                    name=name,
                    creation_time=now,
                    last_updated_time=now,
                    description=description,
                )
            )
            last = {t.key: t.value for t in tags}
            if last:
                await conn.execute(
                    insert(RMT),
                    [
                        {"workspace": WORKSPACE, "name": name, "key": k, "value": v}
                        for k, v in last.items()
                    ],
                )
            row = await self._model_row(conn, name)
            return (await load_models(conn, [row]))[0]

    async def get_registered_model(self, name: str) -> RegisteredModel:
        async with self.db.read() as conn:
            row = await self._model_row(conn, name)
            return (await load_models(conn, [row]))[0]

    async def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        async with self.db.write() as conn:
            await self._model_row(conn, name)
            await conn.execute(
                update(RM)
                .where(RM.workspace == WORKSPACE, RM.name == name)
                .values(description=description, last_updated_time=_now_ms())
            )
            row = await self._model_row(conn, name)
            return (await load_models(conn, [row]))[0]

    async def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a model; its versions, tags and aliases follow (ON UPDATE CASCADE keys)."""
        if not new_name or not new_name.strip():
            raise InvalidParameter("Missing value for required parameter 'new_name'.")
        validate_model_name(new_name)
        now = _now_ms()
        async with self.db.write() as conn:
            await self._model_row(conn, name)
            taken = (
                await conn.execute(
                    select(RM.name).where(RM.workspace == WORKSPACE, RM.name == new_name)
                )
            ).first()
            if taken is not None and new_name != name:
                raise ResourceAlreadyExists(f"Registered Model (name={new_name}) already exists.")
            try:
                await conn.execute(
                    update(RM)
                    .where(RM.workspace == WORKSPACE, RM.name == name)
                    .values(name=new_name, last_updated_time=now)
                )
            except IntegrityError as exc:
                raise ResourceAlreadyExists(
                    f"Registered Model (name={new_name}) already exists. Error: {exc.orig}"
                ) from exc
            await conn.execute(
                update(MV)
                .where(MV.workspace == WORKSPACE, MV.name == new_name)
                .values(last_updated_time=now)
            )
            row = await self._model_row(conn, new_name)
            return (await load_models(conn, [row]))[0]

    async def delete_registered_model(self, name: str) -> None:
        """Hard-delete a model with all its versions, tags and aliases."""
        async with self.db.write() as conn:
            await self._model_row(conn, name)
            for table in (MVT, MV, RMT, RMA):
                await conn.execute(
                    delete(table).where(table.workspace == WORKSPACE, table.name == name)
                )
            await conn.execute(delete(RM).where(RM.workspace == WORKSPACE, RM.name == name))

    async def search_registered_models(
        self,
        *,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> Page[RegisteredModel]:
        """One page of models by MLflow's filter grammar; prompts only when asked for."""
        if max_results > MAX_REGISTERED_MODELS_PER_PAGE:
            raise InvalidParameter(
                "Invalid value for request parameter max_results. It must be at most "
                f"{MAX_REGISTERED_MODELS_PER_PAGE}, but got value {max_results}"
            )
        if max_results < 1:
            raise InvalidParameter(
                f"Invalid value for max_results. It must be a positive integer, but got "
                f"{max_results}"
            )
        filters = parse_registered_model_filter(filter_string)
        orders = rsearch.registered_model_order(parse_registered_model_order_by(order_by))
        offset = decode_offset(page_token)
        stmt = (
            select(RM)
            .where(RM.workspace == WORKSPACE, *rsearch.registered_model_clauses(filters))
            .order_by(*orders)
            .offset(offset)
            .limit(max_results + 1)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
            items = await load_models(conn, rows[:max_results])
        token = encode_offset(offset + max_results) if len(rows) > max_results else None
        return Page(items, token)

    async def get_latest_versions(self, name: str, stages: Sequence[str]) -> list[ModelVersion]:
        """Per requested stage (all when empty), the highest version in it."""
        wanted = {canonical_stage(s) for s in stages} if stages else set(ALL_STAGES)
        async with self.db.read() as conn:
            row = await self._model_row(conn, name)
            model = (await load_models(conn, [row]))[0]
            chosen = [mv for mv in model.latest_versions if mv.current_stage in wanted]
            by_version: dict[int, list[str]] = {}
            for a in model.aliases:
                by_version.setdefault(a.version, []).append(a.alias)
        return [_with_aliases(mv, by_version.get(mv.version, [])) for mv in chosen]

    async def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        validate_model_name(name)
        validate_registry_tag(key, value)
        async with self.db.write() as conn:
            await self._model_row(conn, name)
            await conn.execute(
                upsert(self.db.dialect, RMT.__table__, ["workspace", "key", "name"], ["value"]),
                {"workspace": WORKSPACE, "name": name, "key": key, "value": value},
            )

    async def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Delete a tag; a missing tag is not an error (as in MLflow)."""
        validate_model_name(name)
        validate_tag_key(key)
        async with self.db.write() as conn:
            await self._model_row(conn, name)
            await conn.execute(
                delete(RMT).where(RMT.workspace == WORKSPACE, RMT.name == name, RMT.key == key)
            )

    # ------------------------------------------------------------------ model versions

    async def _run_root(self, run_id: str) -> str:
        run = await self.tracking.get_run(run_id)
        return run.info.artifact_uri or ""

    async def _model_root(self, model_id: str) -> str:
        return (await self.logged_models.get_logged_model(model_id)).artifact_location

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
    ) -> ModelVersion:
        """Register ``source`` as the next version of ``name``.

        ``run_id``/``model_id`` are ``None`` when the request did not carry them. The source is
        checked and resolved first (see ``registry_sources``); a ``models:/<model_id>`` source
        is stored with the logged model's artifact location, and the logged model records the
        new registration in its ``mlflow.modelVersions`` tag.
        """
        validate_model_name(name)
        for tag in tags:
            validate_registry_tag(tag.key, tag.value, version_tag=True)
        # MLflow's ``_is_prompt_request``: tags collapse by key, the last value wins.
        is_prompt = {t.key: t.value for t in tags}.get(
            rsearch.IS_PROMPT_TAG, "false"
        ).lower() == "true"
        if is_prompt:
            # A prompt's text lives in its tags; its source is only ever a placeholder, so no
            # prompt version can point the artifact routes at a file.
            if source not in PROMPT_SOURCE_PLACEHOLDERS:
                raise InvalidParameter(
                    f"Invalid prompt source: '{source}'. Prompt sources must use an MLflow "
                    "placeholder."
                )
        else:
            source, run_id, model_id = await self._resolve_lineage(source, run_id, model_id)
            await validate_source(
                source,
                run_id=run_id,
                model_id=model_id,
                run_root=self._run_root,
                model_root=self._model_root,
            )
        storage_location = source
        if urllib_scheme(source) == "models":
            try:
                parsed = parse_model_uri(source)
                if parsed.model_id is not None:
                    logged = await self.logged_models.get_logged_model(parsed.model_id)
                    storage_location = logged.artifact_location
                    run_id = run_id or logged.source_run_id
                else:
                    storage_location = await self._download_uri_of(source)
            except (ValueError, ResourceNotFound, InvalidParameter) as exc:
                raise InvalidParameter(
                    "Unable to fetch model from model URI source artifact location "
                    f"'{source}'.Error: {exc}"
                ) from exc
        if not run_id and model_id:
            run_id = (await self.logged_models.get_logged_model(model_id)).source_run_id
        now = _now_ms()
        async with self.db.write() as conn:
            await self._model_row(conn, name)
            await self._touch_model(conn, name, now)
            highest = (
                await conn.execute(
                    select(func.max(MV.version)).where(MV.workspace == WORKSPACE, MV.name == name)
                )
            ).scalar()
            version = (highest or 0) + 1
            await conn.execute(
                insert(MV).values(
                    workspace=WORKSPACE,
                    name=name,
                    version=version,
                    creation_time=now,
                    last_updated_time=now,
                    description=description,
                    user_id=None,
                    current_stage=STAGE_NONE,
                    source=source,
                    storage_location=storage_location,
                    run_id=run_id,
                    run_link=run_link,
                    status="READY",
                    status_message=None,
                )
            )
            last = {t.key: t.value for t in tags}
            if last:
                await conn.execute(
                    insert(MVT),
                    [
                        {
                            "workspace": WORKSPACE,
                            "name": name,
                            "version": version,
                            "key": k,
                            "value": v,
                        }
                        for k, v in last.items()
                    ],
                )
            row = await self._version_row(conn, name, version)
            result = (await load_versions(conn, [row]))[0]
        if not is_prompt and model_id:
            await self.logged_models.add_model_version_registration(model_id, name, version)
        return result

    async def _resolve_lineage(
        self, source: str, run_id: str | None, model_id: str | None
    ) -> tuple[str, str | None, str | None]:
        """``models:/<name>/<version|stage|@alias>`` -> the version it names (MLflow's
        ``_resolve_registered_model_source_lineage``); other sources are returned unchanged."""
        if urllib_scheme(source) != "models":
            return source, run_id or "", model_id
        if source.startswith("models://"):
            raise InvalidParameter(
                f"Invalid model version source: '{source}'. Registered model sources must use "
                "the active model registry."
            )
        try:
            parsed = parse_model_uri(source)
        except ValueError:
            raise InvalidParameter(
                f"Invalid model version source: '{source}'. The model_id request parameter "
                "must identify the resource that contains the source."
            ) from None
        if parsed.model_id is not None:
            return source, run_id or "", model_id
        mv = await self._version_of_uri(parsed)
        if (run_id is not None and run_id != (mv.run_id or "")) or (
            model_id is not None and model_id != ""
        ):
            raise InvalidParameter(
                f"Invalid model version source: '{source}'. The run_id and model_id request "
                "parameters must match the referenced model version."
            )
        return f"models:/{mv.name}/{mv.version}", run_id if run_id is not None else mv.run_id, None

    async def _version_of_uri(self, parsed: Any) -> ModelVersion:
        name = parsed.name or ""
        model = await self.get_registered_model(name)
        if any(
            t.key == "mlflow.prompt.is_prompt" and t.value.lower() == "true" for t in model.tags
        ):
            raise InvalidParameter(
                f"Invalid model version source: 'models:/{name}'. Prompt versions cannot be used "
                "as model version sources."
            )
        if parsed.version is not None:
            return await self.get_model_version(name, parsed.version)
        if parsed.alias is not None:
            return await self.get_model_version_by_alias(name, parsed.alias)
        latest = await self.get_latest_versions(name, [parsed.stage] if parsed.stage else [])
        if not latest:
            raise InvalidParameter(f"No versions of model with name '{name}' found")
        return max(latest, key=lambda mv: mv.version)

    async def _download_uri_of(self, source: str) -> str:
        mv = await self._version_of_uri(parse_model_uri(source))
        return mv.storage_location or mv.source or ""

    async def get_model_version(self, name: str, version: str) -> ModelVersion:
        async with self.db.read() as conn:
            row = await self._version_row(conn, name, version)
            return (await load_versions(conn, [row]))[0]

    async def update_model_version(
        self, name: str, version: str, description: str | None
    ) -> ModelVersion:
        """Set the description (``None`` clears it, as MLflow does when it is absent)."""
        async with self.db.write() as conn:
            row = await self._version_row(conn, name, version)
            await conn.execute(
                update(MV)
                .where(MV.workspace == WORKSPACE, MV.name == name, MV.version == row.version)
                .values(description=description, last_updated_time=_now_ms())
            )
            row = await self._version_row(conn, name, row.version)
            return (await load_versions(conn, [row]))[0]

    async def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool
    ) -> ModelVersion:
        """Move a version to ``stage``; optionally archive the others in that stage."""
        target = canonical_stage(stage)
        if archive_existing_versions and target not in ACTIVE_STAGES:
            raise InvalidParameter(
                "Model version transition cannot archive existing model versions because "
                f"'{stage}' is not an Active stage. Valid stages are {list(ACTIVE_STAGES)}"
            )
        now = _now_ms()
        async with self.db.write() as conn:
            row = await self._version_row(conn, name, version)
            if archive_existing_versions:
                await conn.execute(
                    update(MV)
                    .where(
                        MV.workspace == WORKSPACE,
                        MV.name == name,
                        MV.version != row.version,
                        MV.current_stage == target,
                    )
                    .values(current_stage=STAGE_ARCHIVED, last_updated_time=now)
                )
            await conn.execute(
                update(MV)
                .where(MV.workspace == WORKSPACE, MV.name == name, MV.version == row.version)
                .values(current_stage=target, last_updated_time=now)
            )
            await self._touch_model(conn, name, now)
            row = await self._version_row(conn, name, row.version)
            return (await load_versions(conn, [row]))[0]

    async def delete_model_version(self, name: str, version: str) -> None:
        """Soft-delete: the row stays, redacted, in ``Deleted_Internal``; its aliases go."""
        now = _now_ms()
        async with self.db.write() as conn:
            row = await self._version_row(conn, name, version)
            await conn.execute(
                delete(RMA).where(
                    RMA.workspace == WORKSPACE, RMA.name == name, RMA.version == row.version
                )
            )
            await conn.execute(
                update(MV)
                .where(MV.workspace == WORKSPACE, MV.name == name, MV.version == row.version)
                .values(
                    current_stage=STAGE_DELETED_INTERNAL,
                    last_updated_time=now,
                    description=None,
                    user_id=None,
                    source="REDACTED-SOURCE-PATH",
                    run_id="REDACTED-RUN-ID",
                    run_link="REDACTED-RUN-LINK",
                    status_message=None,
                )
            )
            await self._touch_model(conn, name, now)

    async def get_model_version_download_uri(self, name: str, version: str) -> str:
        async with self.db.read() as conn:
            row = await self._version_row(conn, name, version)
        return str(row.storage_location or row.source or "")

    async def search_model_versions(
        self,
        *,
        filter_string: str | None,
        max_results: int,
        order_by: Sequence[str],
        page_token: str | None,
    ) -> Page[ModelVersion]:
        if max_results < 1:
            raise InvalidParameter(
                "Invalid value for max_results. It must be a positive integer, but got "
                f"{max_results}"
            )
        if max_results > MAX_MODEL_VERSIONS_PER_PAGE:
            raise InvalidParameter(
                "Invalid value for request parameter max_results. It must be at most "
                f"{MAX_MODEL_VERSIONS_PER_PAGE}, but got value {max_results}"
            )
        filters = parse_model_version_filter(filter_string)
        orders = rsearch.model_version_order(
            parse_model_version_order_by(list(order_by) or _DEFAULT_VERSION_ORDER)
        )
        offset = decode_offset(page_token)
        stmt = (
            select(MV)
            .where(
                MV.workspace == WORKSPACE,
                MV.current_stage != STAGE_DELETED_INTERNAL,
                *rsearch.model_version_clauses(filters),
            )
            .order_by(*orders)
            .offset(offset)
            .limit(max_results + 1)
        )
        async with self.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
            # MLflow's search results carry no aliases.
            items = await load_versions(conn, rows[:max_results], with_aliases=False)
        token = encode_offset(offset + max_results) if len(rows) > max_results else None
        return Page(items, token)

    async def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        validate_model_name(name)
        number = parse_version(version)
        validate_registry_tag(key, value, version_tag=True)
        async with self.db.write() as conn:
            await self._version_row(conn, name, number)
            await conn.execute(
                upsert(
                    self.db.dialect,
                    MVT.__table__,
                    ["workspace", "key", "name", "version"],
                    ["value"],
                ),
                {
                    "workspace": WORKSPACE,
                    "name": name,
                    "version": number,
                    "key": key,
                    "value": value,
                },
            )

    async def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        """Delete a version tag; a missing tag is not an error (as in MLflow)."""
        validate_model_name(name)
        number = parse_version(version)
        validate_tag_key(key)
        async with self.db.write() as conn:
            await self._version_row(conn, name, number)
            await conn.execute(
                delete(MVT).where(
                    MVT.workspace == WORKSPACE,
                    MVT.name == name,
                    MVT.version == number,
                    MVT.key == key,
                )
            )

    async def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        validate_model_name(name)
        validate_alias(alias)
        validate_alias_not_reserved(alias)
        number = parse_version(version)
        async with self.db.write() as conn:
            await self._version_row(conn, name, number)
            await conn.execute(
                upsert(self.db.dialect, RMA.__table__, ["workspace", "name", "alias"], ["version"]),
                {"workspace": WORKSPACE, "name": name, "alias": alias, "version": number},
            )

    async def delete_registered_model_alias(self, name: str, alias: str) -> None:
        """Delete an alias; a missing alias is not an error (as in MLflow)."""
        validate_model_name(name)
        validate_alias(alias)
        async with self.db.write() as conn:
            await self._model_row(conn, name)
            await conn.execute(
                delete(RMA).where(RMA.workspace == WORKSPACE, RMA.name == name, RMA.alias == alias)
            )

    async def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at; ``latest`` is the highest version. An unknown alias
        is 400 (not 404), as in MLflow."""
        validate_model_name(name)
        validate_alias(alias)
        if alias.lower() == "latest":
            versions = await self.get_latest_versions(name, [])
            if not versions:
                raise ResourceNotFound(f"Latest version not found for model {name}.")
            return max(versions, key=lambda mv: mv.version)
        async with self.db.read() as conn:
            await self._model_row(conn, name)
            target = (
                await conn.execute(
                    select(RMA.version).where(
                        RMA.workspace == WORKSPACE, RMA.name == name, RMA.alias == alias
                    )
                )
            ).scalar()
            if target is None:
                raise InvalidParameter(f"Registered model alias {alias} not found.")
            row = await self._version_row(conn, name, target)
            return (await load_versions(conn, [row]))[0]


def _with_aliases(mv: ModelVersion, aliases: list[str]) -> ModelVersion:
    return replace(mv, aliases=aliases)


def urllib_scheme(uri: str) -> str:
    """The URI scheme (``""`` for a plain path)."""
    return urllib.parse.urlparse(uri).scheme
