"""Registry and logged-model error cases: one table, checked against ``mlflow server`` and aiotrack.

Each row is one raw HTTP request (``requests``, no client retries) and MLflow 3.17.2's answer
(status and ``error_code``). The ``reference`` target proves the table is MLflow's behaviour;
``aiotrack-*`` targets must give the same answer and never a 5xx. Where MLflow answers a client
mistake with 500 (``archive_existing_versions`` with a non-active stage), aiotrack answers 400
``INVALID_PARAMETER_VALUE`` (the row's ``aiotrack`` expectation): the client retries 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.mariadb import drop_mariadb_database, new_mariadb_database
from tests.servers import (
    RunningServer,
    drop_postgres_database,
    new_postgres_database,
    start_aiotrack,
    start_mlflow_reference,
)

pytestmark = pytest.mark.compat
API = "/api/2.0/mlflow/"
MODEL = "errtable-model"
OTHER = "errtable-other"


@dataclass(frozen=True)
class Row:
    id: str
    method: str
    path: str
    body: dict[str, Any]
    expect: tuple[int, str | None]
    aiotrack: tuple[int, str | None] | None = None


BAD = "INVALID_PARAMETER_VALUE"
NOPE = "RESOURCE_DOES_NOT_EXIST"
DUP = "RESOURCE_ALREADY_EXISTS"
OK = (200, None)

ROWS = [
    Row("get-unknown-model", "GET", "registered-models/get", {"name": "nope"}, (404, NOPE)),
    Row("create-duplicate", "POST", "registered-models/create", {"name": MODEL}, (400, DUP)),
    Row("create-missing-name", "POST", "registered-models/create", {}, (400, BAD)),
    Row("create-slash-name", "POST", "registered-models/create", {"name": "a/b"}, (400, BAD)),
    Row("create-colon-name", "POST", "registered-models/create", {"name": "a:b"}, (400, BAD)),
    Row("create-name-int", "POST", "registered-models/create", {"name": 5}, (400, BAD)),
    Row("update-unknown", "PATCH", "registered-models/update", {"name": "nope"}, (404, NOPE)),
    Row("rename-unknown", "POST", "registered-models/rename",
        {"name": "nope", "new_name": "x"}, (404, NOPE)),
    Row("rename-onto-existing", "POST", "registered-models/rename",
        {"name": MODEL, "new_name": OTHER}, (400, DUP)),
    Row("rename-missing-new-name", "POST", "registered-models/rename", {"name": MODEL}, (400, BAD)),
    Row("delete-unknown", "DELETE", "registered-models/delete", {"name": "nope"}, (404, NOPE)),
    Row("set-tag-unknown-model", "POST", "registered-models/set-tag",
        {"name": "nope", "key": "k", "value": "v"}, (404, NOPE)),
    Row("set-tag-bad-key", "POST", "registered-models/set-tag",
        {"name": MODEL, "key": "../k", "value": "v"}, (400, BAD)),
    Row("delete-missing-tag", "DELETE", "registered-models/delete-tag",
        {"name": MODEL, "key": "never"}, OK),
    Row("get-unknown-version", "GET", "model-versions/get", {"name": MODEL, "version": "99"},
        (404, NOPE)),
    Row("get-version-not-int", "GET", "model-versions/get", {"name": MODEL, "version": "abc"},
        (400, BAD)),
    Row("get-version-of-unknown-model", "GET", "model-versions/get",
        {"name": "nope", "version": "1"}, (404, NOPE)),
    Row("download-uri-unknown", "GET", "model-versions/get-download-uri",
        {"name": MODEL, "version": "99"}, (404, NOPE)),
    Row("update-unknown-version", "PATCH", "model-versions/update",
        {"name": MODEL, "version": "99", "description": "d"}, (404, NOPE)),
    Row("delete-unknown-version", "DELETE", "model-versions/delete",
        {"name": MODEL, "version": "99"}, (404, NOPE)),
    Row("set-version-tag-unknown", "POST", "model-versions/set-tag",
        {"name": MODEL, "version": "99", "key": "k", "value": "v"}, (404, NOPE)),
    Row("delete-missing-version-tag", "DELETE", "model-versions/delete-tag",
        {"name": MODEL, "version": "1", "key": "never"}, OK),
    Row("transition-bad-stage", "POST", "model-versions/transition-stage",
        {"name": MODEL, "version": "1", "stage": "bogus", "archive_existing_versions": False},
        (400, BAD)),
    Row("transition-archive-non-active", "POST", "model-versions/transition-stage",
        {"name": MODEL, "version": "1", "stage": "None", "archive_existing_versions": True},
        (500, "INTERNAL_ERROR"), aiotrack=(400, BAD)),
    Row("transition-unknown-version", "POST", "model-versions/transition-stage",
        {"name": MODEL, "version": "99", "stage": "Staging", "archive_existing_versions": False},
        (404, NOPE)),
    Row("create-version-unknown-model", "POST", "model-versions/create",
        {"name": "nope", "source": "s3://b/m"}, (404, NOPE)),
    Row("create-version-missing-source", "POST", "model-versions/create", {"name": MODEL},
        (400, BAD)),
    Row("create-version-local-source", "POST", "model-versions/create",
        {"name": MODEL, "source": "/etc/passwd"}, (400, BAD)),
    Row("create-version-dotdot-source", "POST", "model-versions/create",
        {"name": MODEL, "source": "s3://b/x/../../y"}, (400, BAD)),
    Row("create-version-encoded-dotdot", "POST", "model-versions/create",
        {"name": MODEL, "source": "s3://b/x/%2E%2E/y"}, (400, BAD)),
    Row("create-version-runs-without-run-id", "POST", "model-versions/create",
        {"name": MODEL, "source": "runs:/abc/model"}, (400, BAD)),
    Row("create-version-proxied-without-run", "POST", "model-versions/create",
        {"name": MODEL, "source": "mlflow-artifacts:/0/abc/artifacts/m"}, (400, BAD)),
    Row("create-version-model-uri-of-unknown-model", "POST", "model-versions/create",
        {"name": MODEL, "source": "models:/nope/1"}, (404, NOPE)),
    Row("alias-latest-reserved", "POST", "registered-models/alias",
        {"name": MODEL, "alias": "latest", "version": "1"}, (400, BAD)),
    Row("alias-version-reserved", "POST", "registered-models/alias",
        {"name": MODEL, "alias": "v1", "version": "1"}, (400, BAD)),
    Row("alias-bad-chars", "POST", "registered-models/alias",
        {"name": MODEL, "alias": "bad alias!", "version": "1"}, (400, BAD)),
    Row("alias-unknown-version", "POST", "registered-models/alias",
        {"name": MODEL, "alias": "a", "version": "99"}, (404, NOPE)),
    Row("alias-get-unknown", "GET", "registered-models/alias", {"name": MODEL, "alias": "nope"},
        (400, BAD)),
    Row("alias-get-unknown-model", "GET", "registered-models/alias",
        {"name": "nope", "alias": "a"}, (404, NOPE)),
    Row("alias-delete-missing", "DELETE", "registered-models/alias",
        {"name": MODEL, "alias": "never"}, OK),
    Row("latest-versions-unknown-model", "POST", "registered-models/get-latest-versions",
        {"name": "nope"}, (404, NOPE)),
    Row("latest-versions-bad-stage", "POST", "registered-models/get-latest-versions",
        {"name": MODEL, "stages": ["bogus"]}, (400, BAD)),
    Row("search-models-or", "GET", "registered-models/search",
        {"filter": "name = 'a' or name = 'b'"}, (400, BAD)),
    Row("search-models-bad-attribute", "GET", "registered-models/search",
        {"filter": "foo = 'x'"}, (400, BAD)),
    Row("search-models-bad-prefix", "GET", "registered-models/search",
        {"filter": "params.x = 'y'"}, (400, BAD)),
    Row("search-models-tag-gt", "GET", "registered-models/search", {"filter": "tags.x > 'y'"},
        (400, BAD)),
    Row("search-models-order-creation", "GET", "registered-models/search",
        {"order_by": "creation_timestamp"}, (400, BAD)),
    Row("search-models-order-bad", "GET", "registered-models/search", {"order_by": "foo"},
        (400, BAD)),
    Row("search-models-order-updated", "GET", "registered-models/search",
        {"order_by": "last_updated_timestamp DESC"}, OK),
    Row("search-models-too-many", "GET", "registered-models/search", {"max_results": 1001},
        (400, BAD)),
    Row("search-models-bad-token", "GET", "registered-models/search", {"page_token": "!!"},
        (400, BAD)),
    Row("search-versions-ok", "GET", "model-versions/search",
        {"filter": f"name = '{MODEL}' and version_number >= 1 and tags.k = 'v'"}, OK),
    Row("search-versions-float-version", "GET", "model-versions/search",
        {"filter": "version_number = 1.5"}, (400, BAD)),
    Row("search-versions-bad-attribute", "GET", "model-versions/search",
        {"filter": "creation_timestamp > 1"}, (400, BAD)),
    Row("search-versions-in-source", "GET", "model-versions/search",
        {"filter": "source_path IN ('a')"}, (400, BAD)),
    Row("search-versions-order-bad", "GET", "model-versions/search", {"order_by": "run_id"},
        (400, BAD)),
    Row("search-versions-too-many", "GET", "model-versions/search", {"max_results": 200001},
        (400, BAD)),
    Row("logged-model-unknown", "GET", "logged-models/m-0123456789abcdef0123456789abcdef", {},
        (404, NOPE)),
    Row("logged-model-create-unknown-exp", "POST", "logged-models", {"experiment_id": "424242"},
        (404, NOPE)),
    Row("logged-model-create-missing-exp", "POST", "logged-models", {}, (400, BAD)),
    Row("logged-model-create-bad-name", "POST", "logged-models",
        {"experiment_id": "0", "name": "a/b"}, (400, BAD)),
    Row("logged-model-delete-unknown", "DELETE", "logged-models/m-nope", {}, (404, NOPE)),
    Row("logged-model-delete-tag-unknown-model", "DELETE", "logged-models/m-nope/tags/k", {},
        (404, NOPE)),
    Row("logged-model-finalize-unknown", "PATCH", "logged-models/m-nope",
        {"model_id": "m-nope", "status": "LOGGED_MODEL_READY"}, (404, NOPE)),
    Row("logged-model-params-unknown", "POST", "logged-models/m-nope/params",
        {"model_id": "m-nope", "params": [{"key": "a", "value": "b"}]}, (404, NOPE)),
    Row("logged-model-search-missing-exps", "POST", "logged-models/search", {}, (400, BAD)),
    Row("logged-model-search-bad-filter", "POST", "logged-models/search",
        {"experiment_ids": ["0"], "filter": "foo.bar = 'x'"}, (400, BAD)),
    Row("logged-model-search-bad-order", "POST", "logged-models/search",
        {"experiment_ids": ["0"], "order_by": [{"field_name": "params.x"}]}, (400, BAD)),
    Row("logged-model-search-dataset-no-name", "POST", "logged-models/search",
        {"experiment_ids": ["0"], "datasets": [{"dataset_digest": "x"}]}, (400, BAD)),
]  # fmt: skip


@dataclass
class Target:
    name: str
    url: str

    @property
    def is_reference(self) -> bool:
        return self.name == "reference"


TARGETS = [
    pytest.param("reference", id="reference", marks=pytest.mark.reference),
    pytest.param("aiotrack-sqlite", id="aiotrack-sqlite"),
    pytest.param("aiotrack-postgres", id="aiotrack-postgres", marks=pytest.mark.postgres),
    pytest.param("aiotrack-mariadb", id="aiotrack-mariadb", marks=pytest.mark.mariadb),
]


def _setup(url: str) -> None:
    """The state the rows need: two models, version 1 of MODEL with tag k=v."""
    s = requests.Session()
    for name in (MODEL, OTHER):
        r = s.post(url + API + "registered-models/create", json={"name": name}, timeout=30)
        assert r.status_code == 200, r.text
    r = s.post(
        url + API + "model-versions/create",
        json={"name": MODEL, "source": "s3://bucket/model", "tags": [{"key": "k", "value": "v"}]},
        timeout=30,
    )
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module", params=TARGETS)
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    name: str = request.param
    workdir = tmp_path_factory.mktemp(f"errors-{name}")
    db_uri = None
    if name == "aiotrack-postgres":
        db_uri = backend = new_postgres_database("aiotrack_regerr")
    elif name == "aiotrack-mariadb":
        db_uri = backend = new_mariadb_database("regerr")
    else:
        backend = f"sqlite:///{workdir / 'mlflow.db'}"
    try:
        start = start_mlflow_reference if name == "reference" else start_aiotrack
        server: RunningServer = start(backend, workdir)
        try:
            _setup(server.url)
            yield Target(name, server.url)
        finally:
            server.stop()
    finally:
        if db_uri is not None and name == "aiotrack-mariadb":
            drop_mariadb_database(db_uri)
        elif db_uri is not None:
            drop_postgres_database(db_uri)


def _send(url: str, row: Row) -> requests.Response:
    full = url + API + row.path
    if row.method == "GET":
        return requests.get(full, params=row.body, timeout=30)
    return requests.request(row.method, full, json=row.body, timeout=30)


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_registry_error(target: Target, row: Row) -> None:
    resp = _send(target.url, row)
    expect = row.expect if target.is_reference or row.aiotrack is None else row.aiotrack
    status, code = expect
    try:
        body = resp.json()
    except ValueError:
        body = None
    got_code = body.get("error_code") if isinstance(body, dict) else None
    assert (resp.status_code, got_code if code else None) == (status, code), resp.text[:500]
    if not target.is_reference:
        assert resp.status_code < 500, f"aiotrack answered {resp.status_code}: {resp.text[:300]}"


def test_table_is_big_enough() -> None:
    assert len(ROWS) >= 60
