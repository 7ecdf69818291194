"""The Config dataclass: MLflow 3.18 defaults, derived values, validation, unsupported options."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from aiotrack.config import (
    UNSUPPORTED,
    Config,
    ConfigError,
    is_file_store_uri,
    option_flag,
    redact_uri,
    unsupported_settings,
)

# `mlflow server` 3.18 defaults (reference §11), except workers: aiotrack runs one process.
DEFAULTS: list[tuple[str, Any]] = [
    ("backend_store_uri", "sqlite:///mlflow.db"),
    ("read_replica_backend_store_uri", None),
    ("registry_store_uri", None),
    ("default_artifact_root", None),
    ("serve_artifacts", True),
    ("artifacts_only", False),
    ("artifacts_presigned_only", False),
    ("artifacts_destination", "./mlartifacts"),
    ("allowed_artifact_roots", None),
    ("host", "127.0.0.1"),
    ("port", 5000),
    ("workers", 1),
    ("static_prefix", None),
    ("allowed_hosts", None),
    ("cors_allowed_origins", None),
    ("disable_security_middleware", False),
    ("x_frame_options", "SAMEORIGIN"),
    ("gunicorn_opts", None),
    ("waitress_opts", None),
    ("uvicorn_opts", None),
    ("dev", False),
    ("expose_prometheus", None),
    ("app_name", None),
    ("trace_archival_config", None),
    ("secrets_cache_ttl", 60),
    ("secrets_cache_max_size", 1000),
    ("workspace_store_uri", None),
    ("enable_workspaces", False),
    ("truncate_long_values", True),
    ("log_level", "info"),
    ("max_request_size", 64 * 1024 * 1024),
    ("shutdown_timeout", 10.0),
    ("timeout_keep_alive", 5.0),
    ("db_statement_timeout", 30.0),
]


@pytest.mark.parametrize(("name", "default"), DEFAULTS)
def test_default(name: str, default: Any) -> None:
    assert getattr(Config(), name) == default


def test_every_field_is_listed_and_documented() -> None:
    assert [f.name for f in dataclasses.fields(Config)] == [name for name, _ in DEFAULTS]
    for f in dataclasses.fields(Config):
        assert f.metadata["help"], f.name
        assert callable(f.metadata["type"]), f.name


def test_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "mlflow-artifacts:/"),
        ({"default_artifact_root": "s3://bucket/root"}, "s3://bucket/root"),
        ({"serve_artifacts": False}, "./mlruns"),
        ({"serve_artifacts": False, "backend_store_uri": "postgresql://h/db"}, "./mlruns"),
        # A local-path backend (file store) keeps artifacts next to the data, as in MLflow.
        ({"serve_artifacts": False, "backend_store_uri": "/data/mlruns"}, "/data/mlruns"),
        ({"serve_artifacts": False, "default_artifact_root": "/art"}, "/art"),
    ],
)
def test_effective_default_artifact_root(kwargs: dict[str, Any], expected: str) -> None:
    assert Config(**kwargs).effective_default_artifact_root == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "sqlite:///mlflow.db"),
        ({"backend_store_uri": "postgresql://h/db"}, "postgresql://h/db"),
        ({"registry_store_uri": "sqlite:///reg.db"}, "sqlite:///reg.db"),
        ({"registry_store_uri": ""}, "sqlite:///mlflow.db"),
    ],
)
def test_effective_registry_store_uri(kwargs: dict[str, Any], expected: str) -> None:
    assert Config(**kwargs).effective_registry_store_uri == expected


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"static_prefix": "mlflow"}, "static_prefix", "must begin with a '/', got 'mlflow'; use '/mlflow'"),
        ({"static_prefix": "/mlflow/"}, "static_prefix", "must not end with a '/', got '/mlflow/'; use '/mlflow'"),
        ({"static_prefix": "/"}, "static_prefix", "omit it"),
        ({"static_prefix": "/a{b}"}, "static_prefix", "must not contain"),
        ({"port": -1}, "port", "between 0 and 65535"),
        ({"port": 65536}, "port", "between 0 and 65535"),
        ({"workers": 0}, "workers", "pass --workers 1"),
        ({"x_frame_options": "ALLOW-FROM x"}, "x_frame_options", "SAMEORIGIN, DENY, NONE"),
        ({"secrets_cache_ttl": 5}, "secrets_cache_ttl", "between 10 and 300"),
        ({"secrets_cache_max_size": 0}, "secrets_cache_max_size", "between 1 and 10000"),
        ({"log_level": "loud"}, "log_level", "critical, error, warning, info, debug"),
        ({"uvicorn_opts": "--reload"}, "uvicorn_opts", "does not run under uvicorn"),
        ({"waitress_opts": "--threads 4"}, "waitress_opts", "does not run under waitress"),
        ({"max_request_size": 10}, "max_request_size", "at least 1024 bytes"),
        ({"db_statement_timeout": -1}, "db_statement_timeout", "between 0 (no limit) and 86400"),
        ({"shutdown_timeout": -1}, "shutdown_timeout", "between 0 and 3600"),
        ({"timeout_keep_alive": 0}, "timeout_keep_alive", "more than 0"),
        ({"backend_store_uri": ""}, "backend_store_uri", "--backend-store-uri"),
    ],
)  # fmt: skip
def test_validation(kwargs: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ConfigError) as excinfo:
        Config(**kwargs)
    assert isinstance(excinfo.value, ValueError)
    assert excinfo.value.field == field
    assert message in str(excinfo.value)


@pytest.mark.parametrize(
    ("kwargs", "name", "value"),
    [
        ({"static_prefix": "/mlflow"}, "static_prefix", "/mlflow"),
        ({"static_prefix": ""}, "static_prefix", None),
        ({"port": 0}, "port", 0),
        ({"x_frame_options": "deny"}, "x_frame_options", "DENY"),
        ({"x_frame_options": "None"}, "x_frame_options", "NONE"),
        ({"x_frame_options": "sameOrigin"}, "x_frame_options", "SAMEORIGIN"),
        ({"log_level": "DEBUG"}, "log_level", "debug"),
        ({"allowed_hosts": ()}, "allowed_hosts", None),
        ({"artifacts_destination": Path("art")}, "artifacts_destination", "art"),
    ],
)
def test_normalisation(kwargs: dict[str, Any], name: str, value: Any) -> None:
    assert getattr(Config(**kwargs), name) == value


# One non-default value per not-yet-supported option.
NON_DEFAULT: dict[str, Any] = {
    "read_replica_backend_store_uri": "postgresql://replica/db",
    "artifacts_presigned_only": True,
    "app_name": "basic-auth",
    "trace_archival_config": "archival.yaml",
    "secrets_cache_ttl": 120,
    "secrets_cache_max_size": 10,
    "workspace_store_uri": "sqlite:///ws.db",
    "enable_workspaces": True,
}


def test_unsupported_table_covers_the_brief() -> None:
    assert {name for name, _ in UNSUPPORTED} == set(NON_DEFAULT)


@pytest.mark.parametrize("name", sorted(NON_DEFAULT))
def test_unsupported_when_not_default(name: str) -> None:
    [problem] = unsupported_settings(Config(**{name: NON_DEFAULT[name]}))
    assert problem.field == name
    message = problem.message()
    assert message.startswith(option_flag(name))
    assert "is not supported yet by aiotrack (tracking it in its own issue); " in message
    assert "(set by MLFLOW_X)" in problem.message("MLFLOW_X")


def test_supported_config_has_no_problems() -> None:
    assert unsupported_settings(Config()) == []
    # Non-default spellings of the defaults are fine too.
    config = Config(
        backend_store_uri="postgresql://u:pw@h/db",
        registry_store_uri="postgresql://u:pw@h/db",
        x_frame_options="sameorigin",
        workers=1,
        serve_artifacts=False,
        default_artifact_root="s3://bucket",
        artifacts_destination="s3://bucket/art",
        host="0.0.0.0",
        port=8080,
        truncate_long_values=False,
        log_level="debug",
    )
    assert unsupported_settings(config) == []


def test_unsupported_message_shows_value_and_hides_password() -> None:
    [problem] = unsupported_settings(Config(workspace_store_uri="postgresql://u:secret@h/ws"))
    assert problem.message().startswith("--workspace-store-uri 'postgresql://u:***@h/ws' is not")
    [problem] = unsupported_settings(Config(artifacts_presigned_only=True))
    assert problem.message().startswith("--artifacts-presigned-only is not supported yet")


@pytest.mark.parametrize("uri", ["./mlruns", "/abs/mlruns", "mlruns", "file:///abs/mlruns"])
def test_file_store_backend_is_supported(uri: str) -> None:
    assert unsupported_settings(Config(backend_store_uri=uri)) == []


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("./mlruns", True),
        ("file:///x", True),
        ("C:\\mlruns", True),
        ("sqlite:///mlflow.db", False),
        ("postgresql://h/db", False),
        ("mlflow-artifacts:/", False),
    ],
)
def test_is_file_store_uri(uri: str, expected: bool) -> None:
    assert is_file_store_uri(uri) is expected


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("postgresql://user:pw@host:5432/db", "postgresql://user:***@host:5432/db"),
        ("postgresql://user@host/db", "postgresql://user@host/db"),
        ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),
        ("./mlartifacts", "./mlartifacts"),
    ],
)
def test_redact_uri(uri: str, expected: str) -> None:
    assert redact_uri(uri) == expected


@pytest.mark.parametrize(
    ("name", "flag"),
    [("port", "--port"), ("host", "--host"), ("serve_artifacts", "--serve-artifacts"),
     ("enable_workspaces", "--enable-workspaces"), ("backend_store_uri", "--backend-store-uri")],
)  # fmt: skip
def test_option_flag(name: str, flag: str) -> None:
    assert option_flag(name) == flag


def test_local_artifact_roots(tmp_path: Any) -> None:
    """The server's local artifact roots: destination, default root, file store, listed ones."""
    config = Config(
        backend_store_uri="sqlite:///x.db",
        artifacts_destination=str(tmp_path / "dest"),
        allowed_artifact_roots=(f"{(tmp_path / 'a').as_uri()}", "s3://bucket/x", "rel"),
    )
    assert config.local_artifact_roots == (
        os.path.abspath("mlruns"),
        str(tmp_path / "a"),
        os.path.abspath("rel"),
        str(tmp_path / "dest"),
    )
    no_proxy = Config(
        backend_store_uri=str(tmp_path / "mlruns"),
        serve_artifacts=False,
        default_artifact_root="s3://bucket/root",
    )
    assert no_proxy.local_artifact_roots == (os.path.abspath("mlruns"), str(tmp_path / "mlruns"))
