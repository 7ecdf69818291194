"""Per-resource search grammars: which prefixes, keys, comparators and value types exist.

A :class:`Grammar` is pure data that :mod:`aiotrack.search.parser` interprets. To make a new
resource searchable (registered models, model versions, logged models, ...), add a table here
that mirrors MLflow's ``Search*Utils`` class for it; the parser needs no new code unless the
resource brings a new *kind* of value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from aiotrack.search.ast import Entity, Op

__all__ = [
    "EQ_OPS",
    "EXPERIMENT_GRAMMAR",
    "LIST_OPS",
    "LOGGED_MODEL_GRAMMAR",
    "MODEL_VERSION_GRAMMAR",
    "MODEL_VERSION_ORDER_GRAMMAR",
    "NULL_OPS",
    "NUMERIC_OPS",
    "REGISTERED_MODEL_GRAMMAR",
    "REGISTERED_MODEL_ORDER_GRAMMAR",
    "RUN_GRAMMAR",
    "STRING_OPS",
    "EntitySpec",
    "FieldSpec",
    "Grammar",
    "ValueKind",
]

#: How a value literal is checked and converted:
#: ``string`` -- a quoted string (or, with ``IN``, a list of them), kept as the raw text between
#: the quotes; ``id_string`` -- the same, but each must be an integer id (normalised to its
#: decimal form, e.g. experiment ids); ``float`` -- a number, as float (metrics); ``number`` -- a
#: number, int when written as an integer, float otherwise (run times); ``integer`` -- an
#: integer literal only (experiment times).
ValueKind = Literal["string", "id_string", "float", "number", "integer"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What one key accepts: the type of its value, its comparators, and whether it sorts."""

    kind: ValueKind
    ops: frozenset[Op]
    orderable: bool = True


@dataclass(frozen=True, slots=True)
class EntitySpec:
    """One entity of a grammar: either any key (``any_key``) or a fixed set of ``keys``.

    ``name`` is the word used in error messages. ``aliases`` map alternative filter keys to
    canonical ones, ``order_aliases`` the same for ``order_by``.
    """

    entity: Entity
    name: str
    any_key: FieldSpec | None = None
    keys: Mapping[str, FieldSpec] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    order_aliases: Mapping[str, str] = field(default_factory=dict)
    orderable: bool = True


@dataclass(frozen=True, slots=True)
class Grammar:
    """The search language of one kind of resource (runs, experiments, ...).

    ``prefixes`` maps every accepted ``<prefix>.`` (case-sensitive, as in MLflow) to an entity;
    a key without a prefix belongs to ``bare_entity``. ``unique_order_keys`` rejects an
    ``order_by`` list that names the same key twice.
    """

    prefixes: Mapping[str, Entity]
    entities: Mapping[Entity, EntitySpec]
    bare_entity: Entity = "attribute"
    unique_order_keys: bool = True


EQ_OPS: frozenset[Op] = frozenset({"=", "!="})
STRING_OPS: frozenset[Op] = EQ_OPS | {"LIKE", "ILIKE"}
NUMERIC_OPS: frozenset[Op] = EQ_OPS | {">", ">=", "<", "<="}
LIST_OPS: frozenset[Op] = frozenset({"IN", "NOT IN"})
NULL_OPS: frozenset[Op] = frozenset({"IS NULL", "IS NOT NULL"})

RUN_GRAMMAR = Grammar(
    prefixes={
        "metric": "metric",
        "metrics": "metric",
        "param": "param",
        "params": "param",
        "parameter": "param",
        "parameters": "param",
        "tag": "tag",
        "tags": "tag",
        "attribute": "attribute",
        "attributes": "attribute",
        "attr": "attribute",
        "run": "attribute",
        "dataset": "dataset",
        "datasets": "dataset",
    },
    entities={
        "metric": EntitySpec("metric", "metric", any_key=FieldSpec("float", NUMERIC_OPS)),
        "param": EntitySpec(
            "param", "parameter", any_key=FieldSpec("string", STRING_OPS | NULL_OPS)
        ),
        "tag": EntitySpec("tag", "tag", any_key=FieldSpec("string", STRING_OPS | NULL_OPS)),
        "attribute": EntitySpec(
            "attribute",
            "attribute",
            keys={
                "run_id": FieldSpec("string", STRING_OPS | LIST_OPS),
                "run_name": FieldSpec("string", STRING_OPS),
                "status": FieldSpec("string", STRING_OPS),
                "user_id": FieldSpec("string", STRING_OPS),
                "artifact_uri": FieldSpec("string", STRING_OPS),
                "start_time": FieldSpec("number", NUMERIC_OPS),
                "end_time": FieldSpec("number", NUMERIC_OPS),
            },
            aliases={
                "created": "start_time",
                "Created": "start_time",
                "run name": "run_name",
                "Run name": "run_name",
                "Run Name": "run_name",
            },
            # MLflow accepts the run-name aliases in filters only.
            order_aliases={"created": "start_time", "Created": "start_time"},
        ),
        "dataset": EntitySpec(
            "dataset",
            "dataset",
            keys={
                key: FieldSpec("string", STRING_OPS | LIST_OPS)
                for key in ("name", "digest", "context")
            },
            orderable=False,
        ),
    },
)

EXPERIMENT_GRAMMAR = Grammar(
    # MLflow's experiment search knows fewer prefixes than run search (no attributes./attr.).
    prefixes={"attribute": "attribute", "tag": "tag", "tags": "tag"},
    entities={
        "attribute": EntitySpec(
            "attribute",
            "attribute",
            keys={
                "name": FieldSpec("string", STRING_OPS),
                "experiment_id": FieldSpec("id_string", EQ_OPS | LIST_OPS),
                "creation_time": FieldSpec("integer", NUMERIC_OPS),
                "last_update_time": FieldSpec("integer", NUMERIC_OPS),
            },
        ),
        "tag": EntitySpec(
            "tag", "tag", any_key=FieldSpec("string", STRING_OPS | NULL_OPS), orderable=False
        ),
    },
    # MLflow lets an experiment order_by repeat a key (the later entry is simply redundant).
    unique_order_keys=False,
)

# The registry's filters and order_bys know different keys (MLflow's ``SearchModelUtils`` and
# ``SearchModelVersionUtils``), so each resource has a filter grammar and an order_by grammar.
_REGISTRY_PREFIXES: dict[str, Entity] = {"attribute": "attribute", "tag": "tag", "tags": "tag"}
_REGISTRY_TAG = EntitySpec("tag", "tag", any_key=FieldSpec("string", STRING_OPS), orderable=False)

REGISTERED_MODEL_GRAMMAR = Grammar(
    prefixes=_REGISTRY_PREFIXES,
    entities={
        "attribute": EntitySpec(
            "attribute", "attribute", keys={"name": FieldSpec("string", STRING_OPS | LIST_OPS)}
        ),
        "tag": _REGISTRY_TAG,
    },
)

#: ``creation_timestamp`` and ``timestamp`` are refused by MLflow's SQL store, so they are here.
REGISTERED_MODEL_ORDER_GRAMMAR = Grammar(
    prefixes=_REGISTRY_PREFIXES,
    entities={
        "attribute": EntitySpec(
            "attribute",
            "attribute",
            keys={
                "name": FieldSpec("string", STRING_OPS),
                "last_updated_timestamp": FieldSpec("integer", NUMERIC_OPS),
            },
        ),
        "tag": _REGISTRY_TAG,
    },
)

MODEL_VERSION_GRAMMAR = Grammar(
    prefixes=_REGISTRY_PREFIXES,
    entities={
        "attribute": EntitySpec(
            "attribute",
            "attribute",
            keys={
                "name": FieldSpec("string", STRING_OPS | LIST_OPS),
                "run_id": FieldSpec("string", STRING_OPS | LIST_OPS),
                "source_path": FieldSpec("string", STRING_OPS),
                "version_number": FieldSpec("integer", NUMERIC_OPS),
            },
        ),
        "tag": _REGISTRY_TAG,
    },
)

MODEL_VERSION_ORDER_GRAMMAR = Grammar(
    prefixes=_REGISTRY_PREFIXES,
    entities={
        "attribute": EntitySpec(
            "attribute",
            "attribute",
            keys={
                "name": FieldSpec("string", STRING_OPS),
                "version_number": FieldSpec("integer", NUMERIC_OPS),
                "creation_timestamp": FieldSpec("integer", NUMERIC_OPS),
                "last_updated_timestamp": FieldSpec("integer", NUMERIC_OPS),
            },
        ),
        "tag": _REGISTRY_TAG,
    },
)

#: ``logged-models/search`` filters (``mlflow.utils.search_logged_model_utils``): only the
#: plural prefixes; order_by there is a list of objects and is not parsed with a grammar.
LOGGED_MODEL_GRAMMAR = Grammar(
    prefixes={"attributes": "attribute", "metrics": "metric", "params": "param", "tags": "tag"},
    entities={
        "attribute": EntitySpec(
            "attribute",
            "attribute",
            keys={
                **{
                    key: FieldSpec("string", STRING_OPS | LIST_OPS)
                    for key in ("name", "model_id", "model_type", "status", "source_run_id")
                },
                **{
                    key: FieldSpec("number", NUMERIC_OPS)
                    for key in ("creation_timestamp", "last_updated_timestamp")
                },
            },
            aliases={
                "creation_time": "creation_timestamp",
                "creation_timestamp_ms": "creation_timestamp",
                "last_updated_timestamp_ms": "last_updated_timestamp",
            },
        ),
        "metric": EntitySpec("metric", "metric", any_key=FieldSpec("float", NUMERIC_OPS)),
        "param": EntitySpec("param", "param", any_key=FieldSpec("string", STRING_OPS | LIST_OPS)),
        "tag": EntitySpec("tag", "tag", any_key=FieldSpec("string", STRING_OPS | LIST_OPS)),
    },
)
