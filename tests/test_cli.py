"""The ``aiotrack`` command line: mlflow-compatible options, env fallback, env files, refusals."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aiotrack import __version__
from aiotrack.cli import build_parser, describe, main, parse_server_config
from aiotrack.config import Config

# `mlflow server` 3.18 options, transcribed from the reference (§11), NOT from our Config:
# (option strings, environment variable or None, a sample argv tail).
MLFLOW_SERVER_OPTIONS: list[tuple[tuple[str, ...], str | None, tuple[str, ...]]] = [
    (("--backend-store-uri",), "MLFLOW_BACKEND_STORE_URI", ("sqlite:///x.db",)),
    (("--read-replica-backend-store-uri",), "MLFLOW_READ_REPLICA_BACKEND_STORE_URI", ("sqlite:///r.db",)),
    (("--registry-store-uri",), "MLFLOW_REGISTRY_STORE_URI", ("sqlite:///reg.db",)),
    (("--default-artifact-root",), "MLFLOW_DEFAULT_ARTIFACT_ROOT", ("s3://b/root",)),
    (("--serve-artifacts", "--no-serve-artifacts"), "MLFLOW_SERVE_ARTIFACTS", ()),
    (("--artifacts-only",), "MLFLOW_ARTIFACTS_ONLY", ()),
    (("--artifacts-presigned-only",), "MLFLOW_ARTIFACTS_PRESIGNED_ONLY", ()),
    (("--artifacts-destination",), "MLFLOW_ARTIFACTS_DESTINATION", ("s3://b/art",)),
    (("-h", "--host"), "MLFLOW_HOST", ("0.0.0.0",)),
    (("-p", "--port"), "MLFLOW_PORT", ("5001",)),
    (("-w", "--workers"), "MLFLOW_WORKERS", ("1",)),
    (("--static-prefix",), "MLFLOW_STATIC_PREFIX", ("/mlflow",)),
    (("--allowed-hosts",), "MLFLOW_SERVER_ALLOWED_HOSTS", ("a.example.com",)),
    (("--cors-allowed-origins",), "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS", ("https://a.example.com",)),
    (("--disable-security-middleware",), "MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE", ()),
    (("--x-frame-options",), "MLFLOW_SERVER_X_FRAME_OPTIONS", ("DENY",)),
    (("--gunicorn-opts",), "MLFLOW_GUNICORN_OPTS", ("--timeout 60",)),
    (("--waitress-opts",), None, ("--threads 4",)),
    (("--uvicorn-opts",), "MLFLOW_UVICORN_OPTS", ("--reload --log-level debug",)),
    (("--dev",), None, ()),
    (("--expose-prometheus",), "MLFLOW_EXPOSE_PROMETHEUS", ("/tmp/prom",)),
    (("--app-name",), None, ("basic-auth",)),
    (("--trace-archival-config",), "MLFLOW_TRACE_ARCHIVAL_CONFIG", ("archival.yaml",)),
    (("--secrets-cache-ttl",), None, ("120",)),
    (("--secrets-cache-max-size",), None, ("10",)),
    (("--workspace-store-uri",), "MLFLOW_WORKSPACE_STORE_URI", ("sqlite:///ws.db",)),
    (("--enable-workspaces", "--disable-workspaces"), "MLFLOW_ENABLE_WORKSPACES", ()),
]  # fmt: skip
ALL_FLAGS = [(flag, tail) for flags, _, tail in MLFLOW_SERVER_OPTIONS for flag in flags]
ALL_ENV_VARS = [env for _, env, _ in MLFLOW_SERVER_OPTIONS if env]


@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test in an empty directory: the default-backend rule looks at ./mlruns."""
    monkeypatch.chdir(tmp_path)


def config(*args: str, env: dict[str, str] | None = None) -> Config:
    """``aiotrack server ARGS`` resolved against ``env`` (not the real environment)."""
    return parse_server_config(["server", *args], {} if env is None else env)


def refused(
    argv: list[str], capsys: pytest.CaptureFixture[str], env: dict[str, str] | None = None
) -> str:
    """Assert that ``argv`` is a usage error (exit 2); return its ``error:`` lines."""
    with pytest.raises(SystemExit) as excinfo:
        parse_server_config(argv, {} if env is None else env)
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert errors, err
    return "\n".join(errors)


# --- every mlflow option is accepted ----------------------------------------------------------


@pytest.mark.parametrize(("flag", "tail"), ALL_FLAGS)
def test_parser_accepts_every_mlflow_option(flag: str, tail: tuple[str, ...]) -> None:
    args = build_parser().parse_args(["server", flag, *tail])
    assert args.command == "server"


@pytest.mark.parametrize("env", ALL_ENV_VARS)
def test_help_names_every_mlflow_env_var(env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["server", "--help"]) == 0
    assert env in capsys.readouterr().out.replace("\n", " ").replace(" ", "")


@pytest.mark.parametrize(
    ("args", "name", "value"),
    [
        (["-h", "0.0.0.0"], "host", "0.0.0.0"),
        (["--host", "::"], "host", "::"),
        (["-p", "8080"], "port", 8080),
        (["--port=0"], "port", 0),
        (["-w", "1"], "workers", 1),
        (["--backend-store-uri", "postgresql://u@h/db"], "backend_store_uri", "postgresql://u@h/db"),
        (["--default-artifact-root", "s3://b/r"], "default_artifact_root", "s3://b/r"),
        (["--artifacts-destination", "/srv/art"], "artifacts_destination", "/srv/art"),
        (["--no-serve-artifacts"], "serve_artifacts", False),
        (["--serve-artifacts"], "serve_artifacts", True),
        (["--no-serve-artifacts", "--serve-artifacts"], "serve_artifacts", True),
        (["--serve-artifacts", "--no-serve-artifacts"], "serve_artifacts", False),
        (["--disable-workspaces"], "enable_workspaces", False),
        (["--registry-store-uri", "sqlite:///mlflow.db"], "registry_store_uri", "sqlite:///mlflow.db"),
        (["--x-frame-options", "sameorigin"], "x_frame_options", "SAMEORIGIN"),
        (["--secrets-cache-ttl", "60"], "secrets_cache_ttl", 60),
        (["--no-truncate-long-values"], "truncate_long_values", False),
        (["--log-level", "DEBUG"], "log_level", "debug"),
    ],
)  # fmt: skip
def test_supported_options(args: list[str], name: str, value: Any) -> None:
    assert getattr(config(*args), name) == value


def test_defaults_without_arguments() -> None:
    assert config() == Config()


def test_ui_is_an_alias_of_server() -> None:
    assert parse_server_config(["ui", "-p", "5001"], {}).port == 5001


# --- environment fallback -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("var", "raw", "name", "value"),
    [
        ("BACKEND_STORE_URI", "postgresql://h/db", "backend_store_uri", "postgresql://h/db"),
        ("DEFAULT_ARTIFACT_ROOT", "s3://b/r", "default_artifact_root", "s3://b/r"),
        ("SERVE_ARTIFACTS", "false", "serve_artifacts", False),
        ("SERVE_ARTIFACTS", "0", "serve_artifacts", False),
        ("SERVE_ARTIFACTS", "True", "serve_artifacts", True),
        ("ARTIFACTS_DESTINATION", "s3://b/art", "artifacts_destination", "s3://b/art"),
        ("HOST", "0.0.0.0", "host", "0.0.0.0"),
        ("PORT", "5001", "port", 5001),
        ("WORKERS", "1", "workers", 1),
        ("ENABLE_WORKSPACES", "false", "enable_workspaces", False),
        ("TRUNCATE_LONG_VALUES", "false", "truncate_long_values", False),
    ],
)
@pytest.mark.parametrize("prefix", ["MLFLOW_", "AIOTRACK_"])
def test_env_fallback(prefix: str, var: str, raw: str, name: str, value: Any) -> None:
    assert getattr(config(env={prefix + var: raw}), name) == value


@pytest.mark.parametrize(
    ("env", "name", "value"),
    [
        ({"MLFLOW_LOGGING_LEVEL": "WARNING"}, "log_level", "warning"),
        ({"AIOTRACK_LOG_LEVEL": "debug"}, "log_level", "debug"),
        ({"MLFLOW_SERVER_X_FRAME_OPTIONS": "sameorigin"}, "x_frame_options", "SAMEORIGIN"),
        ({"MLFLOW_PORT": ""}, "port", 5000),  # empty counts as unset, as with click
        ({"MLFLOW_PORT": "5001", "AIOTRACK_PORT": "5002"}, "port", 5002),  # alias wins
    ],
)
def test_env_details(env: dict[str, str], name: str, value: Any) -> None:
    assert getattr(config(env=env), name) == value


@pytest.mark.parametrize(
    ("args", "env", "name", "value"),
    [
        (["-p", "6000"], {"MLFLOW_PORT": "5001", "AIOTRACK_PORT": "5002"}, "port", 6000),
        (["--host", "10.0.0.1"], {"MLFLOW_HOST": "0.0.0.0"}, "host", "10.0.0.1"),
        (["--serve-artifacts"], {"MLFLOW_SERVE_ARTIFACTS": "false"}, "serve_artifacts", True),
        (["--no-serve-artifacts"], {"AIOTRACK_SERVE_ARTIFACTS": "true"}, "serve_artifacts", False),
        (["--backend-store-uri", "sqlite:///a.db"], {"MLFLOW_BACKEND_STORE_URI": "sqlite:///b.db"},
         "backend_store_uri", "sqlite:///a.db"),
        # A flag set to the default still beats an unsupported env value.
        (["--workers", "1"], {"MLFLOW_WORKERS": "4"}, "workers", 1),
    ],
)  # fmt: skip
def test_flag_beats_env(args: list[str], env: dict[str, str], name: str, value: Any) -> None:
    assert getattr(config(*args, env=env), name) == value


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLFLOW_PORT": "abc"}, "invalid value for MLFLOW_PORT: 'abc' is not an integer"),
        ({"MLFLOW_SERVE_ARTIFACTS": "maybe"}, "MLFLOW_SERVE_ARTIFACTS: 'maybe' is not a boolean"),
        ({"MLFLOW_PORT": "70000"}, "between 0 and 65535, got 70000; pass --port"),
        ({"MLFLOW_PORT": "70000"}, "(set by MLFLOW_PORT)"),
        ({"AIOTRACK_STATIC_PREFIX": "x"}, "must begin with a '/'"),
    ],
)
def test_bad_env_values(
    env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in refused(["server"], capsys, env)


# --- --env-file -----------------------------------------------------------------------------------

ENV_FILE = """\
# comments and blank lines are ignored

export MLFLOW_PORT=5001
MLFLOW_HOST="0.0.0.0"   # a trailing comment
MLFLOW_ARTIFACTS_DESTINATION='/srv/my artifacts'
AWS_ACCESS_KEY_ID=abc
"""


@pytest.mark.parametrize(
    "argv",
    [["--env-file", "my.env", "server"], ["server", "--env-file", "my.env"],
     ["--env-file=my.env", "server"]],
)  # fmt: skip
def test_env_file(argv: list[str], tmp_path: Path) -> None:
    (tmp_path / "my.env").write_text(ENV_FILE)
    environ: dict[str, str] = {}
    cfg = parse_server_config(argv, environ)
    assert (cfg.port, cfg.host, cfg.artifacts_destination) == (5001, "0.0.0.0", "/srv/my artifacts")
    # Every variable lands in the environment (e.g. credentials for artifact stores).
    assert environ["AWS_ACCESS_KEY_ID"] == "abc"


def test_env_file_does_not_override_environment_nor_flags(tmp_path: Path) -> None:
    (tmp_path / "my.env").write_text(ENV_FILE)
    environ = {"MLFLOW_PORT": "7000"}
    cfg = parse_server_config(["--env-file", "my.env", "server", "--host", "10.1.1.1"], environ)
    assert (cfg.port, cfg.host) == (7000, "10.1.1.1")
    assert environ["MLFLOW_PORT"] == "7000"


def test_env_file_unsupported_value_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "my.env").write_text("MLFLOW_WORKSPACE_STORE_URI=sqlite:///ws.db\n")
    errors = refused(["--env-file", "my.env", "server"], capsys)
    assert "--workspace-store-uri sqlite:///ws.db (set by MLFLOW_WORKSPACE_STORE_URI)" in errors
    assert "is not supported yet by aiotrack" in errors


@pytest.mark.parametrize(
    "argv", [["--env-file", "missing.env", "server"], ["server", "--env-file", "missing.env"]]
)
def test_env_file_missing(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert "--env-file 'missing.env' does not exist" in refused(argv, capsys)


# --- options aiotrack does not have yet -------------------------------------------------------------

UNSUPPORTED_ARGS: list[tuple[list[str], str]] = [
    (["--read-replica-backend-store-uri", "sqlite:///r.db"], "--read-replica-backend-store-uri sqlite:///r.db"),
    (["--artifacts-presigned-only"], "--artifacts-presigned-only"),
    (["--app-name", "basic-auth"], "--app-name basic-auth"),
    (["--trace-archival-config", "archival.yaml"], "--trace-archival-config archival.yaml"),
    (["--secrets-cache-ttl", "120"], "--secrets-cache-ttl 120"),
    (["--secrets-cache-max-size", "10"], "--secrets-cache-max-size 10"),
    (["--workspace-store-uri", "sqlite:///ws.db"], "--workspace-store-uri sqlite:///ws.db"),
    (["--enable-workspaces"], "--enable-workspaces"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "subject"), UNSUPPORTED_ARGS)
def test_unsupported_option_exits_2(
    args: list[str], subject: str, capsys: pytest.CaptureFixture[str]
) -> None:
    errors = refused(["server", *args], capsys)
    assert errors.startswith(
        f"aiotrack server: error: {subject} is not supported yet by aiotrack "
        "(tracking it in its own issue); "
    )
    assert len(errors.splitlines()) == 1


@pytest.mark.parametrize(
    ("env", "subject"),
    [
        (
            {"MLFLOW_ARTIFACTS_PRESIGNED_ONLY": "true"},
            "--artifacts-presigned-only (set by MLFLOW_ARTIFACTS_PRESIGNED_ONLY)",
        ),
        (
            {"MLFLOW_ENABLE_WORKSPACES": "1"},
            "--enable-workspaces (set by MLFLOW_ENABLE_WORKSPACES)",
        ),
    ],
)
def test_unsupported_env_value_exits_2(
    env: dict[str, str], subject: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert f"{subject} is not supported yet by aiotrack" in refused(["server"], capsys, env)


def test_every_unsupported_option_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    errors = refused(
        ["server", "--app-name", "basic-auth", "--enable-workspaces", "--secrets-cache-ttl", "20"],
        capsys,
    )
    assert len(errors.splitlines()) == 3


@pytest.mark.parametrize(
    "env",
    [
        {"MLFLOW_ARTIFACTS_ONLY": "false"},
        {"MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE": "false"},
        {"MLFLOW_ENABLE_WORKSPACES": "false"},
        {"MLFLOW_SERVER_X_FRAME_OPTIONS": "SAMEORIGIN"},
        {"MLFLOW_REGISTRY_STORE_URI": "sqlite:///mlflow.db"},
    ],
)
def test_default_valued_unsupported_options_are_fine(env: dict[str, str]) -> None:
    assert config(env=env) == Config(registry_store_uri=env.get("MLFLOW_REGISTRY_STORE_URI"))


def test_backend_without_async_driver_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    errors = refused(["server", "--backend-store-uri", "mssql://u:secret@h/db"], capsys)
    assert "--backend-store-uri: Microsoft SQL Server" in errors
    assert "secret" not in errors


# --- default backend rule (§13) ------------------------------------------------------------------


def _mlruns(tmp_path: Path, *files: str) -> None:
    for name in files:
        path = tmp_path / "mlruns" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("name: x\n")


@pytest.mark.parametrize(
    "files",
    [(), ("0/tags/x",), (".trash/1/meta.yaml",), ("models/m/meta.yaml",), ("abc/meta.yaml",)],
)
def test_default_backend_is_sqlite(tmp_path: Path, files: tuple[str, ...]) -> None:
    _mlruns(tmp_path, *files)
    assert config().backend_store_uri == "sqlite:///mlflow.db"


@pytest.mark.parametrize("files", [("0/meta.yaml",), ("123456789012345678/meta.yaml",)])
def test_default_backend_with_mlruns_data_is_the_file_store(
    tmp_path: Path, files: tuple[str, ...]
) -> None:
    _mlruns(tmp_path, *files)
    assert config().backend_store_uri == "./mlruns"


@pytest.mark.parametrize("uri", ["./mlruns", "/abs/mlruns", "file:///abs/mlruns"])
def test_file_store_backend_is_accepted(uri: str) -> None:
    assert config("--backend-store-uri", uri).backend_store_uri == uri


def test_explicit_backend_ignores_mlruns(tmp_path: Path) -> None:
    _mlruns(tmp_path, "0/meta.yaml")
    assert config("--backend-store-uri", "sqlite:///x.db").backend_store_uri == "sqlite:///x.db"
    env = {"MLFLOW_BACKEND_STORE_URI": "sqlite:///y.db"}
    assert config(env=env).backend_store_uri == "sqlite:///y.db"


# --- validation and usage errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--static-prefix", "mlflow"], "--static-prefix must begin with a '/', got 'mlflow'; use '/mlflow'"),
        (["--static-prefix", "/mlflow/"], "--static-prefix must not end with a '/', got '/mlflow/'"),
        (["--port", "abc"], "argument -p/--port: invalid int value: 'abc'"),
        (["--port", "99999"], "port must be between 0 and 65535"),
        (["--x-frame-options", "ALLOWALL"], "--x-frame-options must be one of SAMEORIGIN, DENY, NONE"),
        (["--secrets-cache-ttl", "1"], "between 10 and 300"),
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["--back", "sqlite:///x.db"], "unrecognized arguments"),  # no prefix abbreviations
        (["--help-me"], "unrecognized arguments"),
    ],
)  # fmt: skip
def test_usage_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    errors = refused(["server", *args], capsys)
    assert message in errors
    assert len(errors.splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "code"),
    [([], 2), (["nope"], 2), (["db"], 2), (["server", "--artifacts-presigned-only"], 2),
     (["server", "--help"], 0), (["db", "upgrade", "--help"], 0), (["--help"], 0)],
)  # fmt: skip
def test_main_exit_codes(argv: list[str], code: int, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith(("MLFLOW_", "AIOTRACK_"))]:
        monkeypatch.delenv(var)
    assert main(argv) == code


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"aiotrack {__version__} (MLflow 3.18.0 compatible)"


def test_describe_redacts_passwords() -> None:
    cfg = Config(backend_store_uri="postgresql://u:secret@h/db", host="::1", port=5001)
    line = describe(cfg, {"backend_store_uri": "--backend-store-uri"})
    assert "secret" not in line
    assert "postgresql://u:***@h/db" in line
    assert "http://[::1]:5001" in line
    assert "(default)" in describe(Config(), {})


# --- db upgrade ----------------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    assert main(["db", "upgrade", f"sqlite:///{tmp_path / 'up.db'}"]) == 0
    assert (tmp_path / "up.db").stat().st_size > 0


def test_db_upgrade_bad_uri(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "mssql://h/db"]) == 2
    assert "aiotrack db upgrade: error: Microsoft SQL Server" in capsys.readouterr().err


# --- as a process --------------------------------------------------------------------------------


def test_python_m_aiotrack_server_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aiotrack", "server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "--backend-store-uri" in proc.stdout
    assert "-h HOST, --host HOST" in proc.stdout


@pytest.mark.reference
def test_every_option_of_the_reference_mlflow_server_is_accepted() -> None:
    """Guard against drift: every option the installed reference `mlflow server` has, we have."""
    from tests.servers import reference_bin

    def help_text(cmd: list[str]) -> str:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout

    reference = help_text([str(reference_bin() / "mlflow"), "server", "--help"])
    ours = help_text([sys.executable, "-m", "aiotrack", "server", "--help"])
    flags = {
        flag
        for line in reference.split("Options:", 1)[1].splitlines()
        if (m := re.match(r"^  (?:(-\w), )?(--[a-z-]+)(?: ?/ ?(--[a-z-]+))?", line))
        for flag in m.groups()
        if flag
    }
    assert len(flags) > 25
    missing = {f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", ours)}
    assert missing == set()
