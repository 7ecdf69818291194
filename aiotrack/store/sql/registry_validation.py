"""Input rules of the model registry, with MLflow's messages (``mlflow.utils.validation``)."""

from __future__ import annotations

import posixpath
import re

from aiotrack.errors import InvalidParameter
from aiotrack.store.registry_entities import ALL_STAGES
from aiotrack.validation import invalid_value, limit_length, missing_value, validate_tag_name

__all__ = [
    "canonical_stage",
    "parse_version",
    "validate_alias",
    "validate_alias_not_reserved",
    "validate_model_name",
    "validate_registry_tag",
    "validate_tag_key",
]

MAX_REGISTRY_TAG_KEY_LENGTH = 250
MAX_REGISTRY_TAG_VALUE_LENGTH = 100_000
MAX_ALIAS_LENGTH = 255
_ALIAS_RE = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS_RE = re.compile(r"^[vV]\d+$")
_STAGES = {stage.lower(): stage for stage in ALL_STAGES}


def validate_model_name(name: str | None) -> None:
    """Non-blank, no ``/`` or ``:``, and unchanged by POSIX path normalisation."""
    if name is None or not name.strip():
        raise InvalidParameter(missing_value("name"))
    if "/" in name or ":" in name:
        raise InvalidParameter(f"Invalid model name '{name}'. Names cannot contain '/' or ':'.")
    norm = posixpath.normpath(name)
    if norm != name or norm == "." or norm.startswith(".."):
        raise InvalidParameter(
            invalid_value(
                "name",
                name,
                "Names may be treated as files in certain cases, and must not resolve to other "
                f"names when treated as such. This name would resolve to {norm!r}",
            )
        )


def parse_version(version: str | int) -> int:
    """A model version number given as a string; anything but an integer is a 400."""
    if isinstance(version, int):
        return version
    try:
        return int(version)
    except ValueError:
        raise InvalidParameter(
            f"Parameter 'version' must be an integer, got '{version}'."
        ) from None


def validate_tag_key(key: str | None) -> None:
    validate_tag_name(key)


def validate_registry_tag(key: str | None, value: str | None, *, version_tag: bool = False) -> None:
    """Key rules of run tags, key <= 250 and value <= 100,000 characters."""
    validate_tag_name(key)
    assert key is not None
    if version_tag and value is None:
        raise InvalidParameter("Tag value cannot be None")
    limit_length("key", MAX_REGISTRY_TAG_KEY_LENGTH, key)
    if value is not None:
        limit_length("value", MAX_REGISTRY_TAG_VALUE_LENGTH, value)


def validate_alias(alias: str | None) -> None:
    if not alias:
        raise InvalidParameter("Registered model alias name cannot be empty.")
    if not _ALIAS_RE.match(alias):
        raise InvalidParameter(
            f"Invalid alias name: '{alias}'. Names may only contain alphanumerics, "
            "underscores (_), and dashes (-)."
        )
    limit_length("Registered model alias name", MAX_ALIAS_LENGTH, alias)


def validate_alias_not_reserved(alias: str) -> None:
    if alias.lower() == "latest":
        raise InvalidParameter("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS_RE.match(alias):
        raise InvalidParameter(f"Version alias name '{alias}' is reserved.")


def canonical_stage(stage: str) -> str:
    """``staging`` -> ``Staging``; unknown stages are a 400."""
    found = _STAGES.get(stage.lower())
    if found is None:
        raise InvalidParameter(
            f"Invalid Model Version stage: {stage}. Value must be one of {', '.join(ALL_STAGES)}."
        )
    return found
