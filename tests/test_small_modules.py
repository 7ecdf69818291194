"""Page tokens, URI composition, run names and JSON tag lists: small pure pieces, table-driven."""

from __future__ import annotations

import os

import orjson
import pytest

from aiotrack.api.codec import run_json
from aiotrack.errors import InvalidParameter
from aiotrack.names import random_run_name
from aiotrack.store.entities import JsonTags, Run, RunData, RunInfo, RunInputs, Tag
from aiotrack.store.pagination import decode_offset, encode_offset
from aiotrack.uris import append_path, resolve_if_local


@pytest.mark.parametrize("offset", [1, 7, 1000, 123456])
def test_page_token_round_trip(offset: int) -> None:
    assert decode_offset(encode_offset(offset)) == offset


def test_page_token_matches_mlflow_encoding() -> None:
    assert encode_offset(1) == "eyJvZmZzZXQiOiAxfQ=="


@pytest.mark.parametrize("token", ["!!!", "e30=", "eyJvZmZzZXQiOiAieCJ9", "bm90IGpzb24="])
def test_bad_page_tokens_are_400(token: str) -> None:
    with pytest.raises(InvalidParameter, match="Invalid page token"):
        decode_offset(token)


@pytest.mark.parametrize(
    ("uri", "parts", "expected"),
    [
        ("mlflow-artifacts:/", ("1",), "mlflow-artifacts:/1"),
        ("mlflow-artifacts:/1", ("abc", "artifacts"), "mlflow-artifacts:/1/abc/artifacts"),
        ("/tmp/mlruns", ("1",), "/tmp/mlruns/1"),
        ("s3://bucket/p/", ("1",), "s3://bucket/p/1"),
        ("file:///x/y", ("1",), "file:///x/y/1"),
    ],
)
def test_append_path(uri: str, parts: tuple[str, ...], expected: str) -> None:
    assert append_path(uri, *parts) == expected


def test_resolve_if_local() -> None:
    assert resolve_if_local("./mlruns") == os.path.abspath("mlruns")
    assert resolve_if_local("s3://b/p") == "s3://b/p"


def test_run_names_are_short() -> None:
    for _ in range(200):
        name = random_run_name()
        assert len(name) <= 20 and name.count("-") == 2


def test_json_tags_behave_like_the_list_they_encode() -> None:
    text = '[{"key":"a","value":"x \\"y\\""},{"key":"b","value":""}]'
    tags = JsonTags(text)
    assert tags and len(tags) == 2
    assert list(tags) == [Tag("a", 'x "y"'), Tag("b", "")]
    assert tags[1] == Tag("b", "") and tags[:1] == [Tag("a", 'x "y"')]
    assert tags == [Tag("a", 'x "y"'), Tag("b", "")]
    assert not JsonTags("[]")


def test_json_tags_are_embedded_unparsed_in_run_json() -> None:
    info = RunInfo("r1", "n", "0", None, "RUNNING", 1, None, None, "active")
    text = '[{"key":"p","value":"1"}]'
    run = Run(info, RunData(params=JsonTags(text), tags=JsonTags("[]")), RunInputs())
    data = orjson.loads(orjson.dumps(run_json(run)))["data"]
    assert data == {"params": [{"key": "p", "value": "1"}]}  # an empty list is omitted
