"""``FileTraceStore`` in-process, against MLflow's own ``FileStore`` (the real mlflow code):

- the same trace started through both leaves the same files with the same bytes (up to the
  root directory and the experiment id each store picks), and each store reads the other's;
- ``trace_info.yaml`` is MLflow's ``TraceInfo.to_dict()`` dump for every optional field;
- assessments are answered as MLflow's ``from_dictionary`` -> ``to_proto`` gives them;
- MLflow 2.x's v2 ``trace_info.yaml`` is read; malformed traces are skipped by search;
- deletes by age take the oldest first; spans are read only inside the store root.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf.json_format import MessageToDict
from mlflow.entities import Assessment as MlflowAssessment
from mlflow.entities import AssessmentSource, Expectation, Feedback, TraceLocation, TraceState
from mlflow.entities import TraceInfo as MlflowTraceInfo
from mlflow.store.tracking.file_store import FileStore

from aiotrack.errors import InvalidParameter, InvalidState, ResourceNotFound
from aiotrack.store.file import FileTrackingStore
from aiotrack.store.file.layout import _dump, write_yaml_file
from aiotrack.store.file.root import FileRoot
from aiotrack.store.file.trace_layout import assessment_json, info_to_yaml
from aiotrack.store.file.traces import FileTraceStore
from aiotrack.store.trace_base import TraceNotFound
from aiotrack.tracing.assessments import new_assessment
from aiotrack.tracing.entities import TraceInfo

T0 = 1_700_000_000_123


def _info(experiment_id: str, trace_id: str = "tr-abc", **changes: Any) -> TraceInfo:
    fields: dict[str, Any] = {
        "trace_id": trace_id,
        "experiment_id": experiment_id,
        "request_time": T0,
        "execution_duration": 42,
        "state": "OK",
        "client_request_id": "req-7",
        "request_preview": '{"q": "é\\n"}',
        "response_preview": "",
        "tags": {"mlflow.traceName": "f", "multi": "x\ny"},
        "metadata": {"mlflow.user": "ann", "empty": ""},
    }
    fields.update(changes)
    return TraceInfo(**fields)


def _mlflow_info(info: TraceInfo) -> MlflowTraceInfo:
    return MlflowTraceInfo(
        trace_id=info.trace_id,
        trace_location=TraceLocation.from_experiment_id(info.experiment_id),
        request_time=info.request_time,
        state=TraceState(info.state),
        request_preview=info.request_preview,
        response_preview=info.response_preview,
        client_request_id=info.client_request_id,
        execution_duration=info.execution_duration,
        trace_metadata=dict(info.metadata),
        tags=dict(info.tags),
    )


def _tree(root: Path, experiment_id: str) -> dict[str, bytes]:
    """Every file under the experiment's traces/, root and experiment id replaced."""
    base = root / experiment_id / "traces"
    out: dict[str, bytes] = {}
    for path in sorted(base.rglob("*")):
        if path.is_file():
            data = path.read_bytes().replace(root.as_uri().encode(), b"<ROOT>")
            out[str(path.relative_to(base))] = data.replace(experiment_id.encode(), b"<EXP>")
    return out


@pytest.fixture
def stores(tmp_path: Path) -> tuple[FileStore, FileTrackingStore, FileTraceStore]:
    ml = FileStore(str(tmp_path / "ml"))
    aio = FileTrackingStore(str(tmp_path / "aio"), artifact_root=None)
    return ml, aio, FileTraceStore(aio.root)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"execution_duration": None, "client_request_id": None, "request_preview": None},
        {"state": "STATE_UNSPECIFIED", "request_time": 0, "tags": {}, "metadata": {}},
        {"state": "IN_PROGRESS", "request_time": T0 - 123, "response_preview": "a: b\n- c"},
    ],
)
async def test_same_files_as_mlflow_and_each_reads_the_other(
    stores: tuple[FileStore, FileTrackingStore, FileTraceStore],
    tmp_path: Path,
    changes: dict[str, Any],
) -> None:
    ml, aio, traces = stores
    ml_exp = ml.create_experiment("e")
    aio_exp = await aio.create_experiment("e", None, [])
    ml.start_trace(_mlflow_info(_info(ml_exp, **changes)))
    started = await traces.start_trace(_info(aio_exp, **changes))
    assert _tree(tmp_path / "ml", ml_exp) == _tree(tmp_path / "aio", aio_exp)

    ours = await traces.get_trace_info("tr-abc")
    assert ours == started
    # MLflow reads aiotrack's trace; aiotrack reads MLflow's.
    theirs_of_ours = FileStore(str(tmp_path / "aio")).get_trace_info("tr-abc")
    assert theirs_of_ours.to_dict() == _mlflow_info(ours).to_dict()
    ours_of_theirs = await FileTraceStore(FileRoot(str(tmp_path / "ml"), "")).get_trace_info(
        "tr-abc"
    )
    assert _mlflow_info(ours_of_theirs).to_dict() == ml.get_trace_info("tr-abc").to_dict()
    assert yaml.safe_load(_dump(info_to_yaml(ours))) == {
        k: v for k, v in theirs_of_ours.to_dict().items() if k not in ("tags", "trace_metadata")
    }


_IDS_AND_TIMES = re.compile(rb"a-[0-9a-f]{32}|\d{4}-\d\d-\d\dT[\d:.]+Z")


async def test_carried_assessments_stored_as_mlflow_stores_them(
    stores: tuple[FileStore, FileTrackingStore, FileTraceStore], tmp_path: Path
) -> None:
    ml, aio, traces = stores
    ml_exp = ml.create_experiment("e")
    aio_exp = await aio.create_experiment("e", None, [])
    source = AssessmentSource(source_type="HUMAN", source_id="me")
    info = _mlflow_info(_info(ml_exp))
    info.assessments = [
        Feedback(name="inside", value=0.5, rationale="why", source=source, trace_id="tr-abc",
                 metadata={"k": "v"}, create_time_ms=T0, last_update_time_ms=T0),
        Expectation(name="want", value={"a": [1]}, source=source, trace_id="tr-abc",
                    create_time_ms=T0, last_update_time_ms=T0),
    ]  # fmt: skip
    ml.start_trace(info)
    carried = [
        new_assessment("feedback", name="inside", value=0.5, rationale="why",
                       source_type="HUMAN", source_id="me", metadata={"k": "v"},
                       create_time_ms=T0, last_update_time_ms=T0),
        new_assessment("expectation", name="want", value={"a": [1]}, source_type="HUMAN",
                       source_id="me", create_time_ms=T0, last_update_time_ms=T0),
    ]  # fmt: skip
    started = await traces.start_trace(_info(aio_exp), carried)
    assert [a["assessment_name"] for a in started.assessments] == ["inside", "want"]

    def files(root: Path, exp: str) -> list[tuple[str, bytes]]:
        tree = _tree(root, exp)  # assessment files are named by their new ids
        return sorted(
            (name.split("/a-")[0], _IDS_AND_TIMES.sub(b"<X>", data)) for name, data in tree.items()
        )

    assert files(tmp_path / "ml", ml_exp) == files(tmp_path / "aio", aio_exp)
    ours = (await traces.get_trace_info("tr-abc")).assessments
    assert sorted(json.dumps(a, sort_keys=True) for a in ours) == sorted(
        json.dumps(a, sort_keys=True) for a in started.assessments
    )


async def test_mlflow_reads_tags_and_v2_end_written_by_aiotrack(
    stores: tuple[FileStore, FileTrackingStore, FileTraceStore], tmp_path: Path
) -> None:
    _, aio, traces = stores
    exp = await aio.create_experiment("e", None, [])
    started = await traces.start_trace_v2(exp, T0, {"m": "1"}, {"t": "2"})
    await traces.set_trace_tag(started.trace_id, "extra", "v")

    async def search() -> list[TraceInfo]:
        return (await traces.search_traces([exp], filter_string=None, max_results=5,
                                           order_by=[], page_token=None))[0]  # fmt: skip

    assert [i.state for i in await search()] == ["IN_PROGRESS"]
    ended = await traces.end_trace_v2(started.trace_id, T0 + 500, "ERROR", {"m2": "3"}, {})
    assert (ended.execution_duration, ended.state) == (500, "ERROR")
    assert await search() == [ended]  # the search reads the rewritten info, not a cached one
    other = FileStore(str(tmp_path / "aio")).get_trace_info(started.trace_id)
    assert (other.execution_duration, other.state.value) == (500, "ERROR")
    assert other.tags == ended.tags and other.trace_metadata == {"m": "1", "m2": "3"}


async def test_errors(stores: tuple[FileStore, FileTrackingStore, FileTraceStore]) -> None:
    _, aio, traces = stores
    exp = await aio.create_experiment("e", None, [])
    with pytest.raises(TraceNotFound, match=r"^Trace with ID 'tr-x' not found$"):
        await traces.get_trace_info("tr-x")
    with pytest.raises(TraceNotFound):
        await traces.get_trace_info("../..")
    for bad in ("a b?", "..", "x\ty"):
        with pytest.raises(InvalidParameter, match="trace_id"):
            await traces.start_trace(_info(exp, bad))
    with pytest.raises(InvalidParameter, match=r"Invalid experiment ID: 'x/y'"):
        await traces.start_trace(_info("x/y"))
    await aio.delete_experiment(exp)
    with pytest.raises(ResourceNotFound, match=rf"^Experiment {exp} does not exist.$"):
        await traces.start_trace(_info(exp))
    other = await aio.create_experiment("f", None, [])
    with pytest.raises(InvalidParameter, match="Invalid value"):
        await traces.start_trace(_info(other, metadata={"../x": "1"}))
    assert not (Path(aio.root.root) / other / "traces" / "tr-abc").exists()
    await traces.start_trace(_info(other))
    with pytest.raises(InvalidParameter, match="Invalid value"):
        await traces.set_trace_tag("tr-abc", "/abs", "v")
    with pytest.raises(InvalidParameter, match="`max_traces` must be a positive integer"):
        await traces.delete_traces(other, max_timestamp_millis=1, max_traces=0, trace_ids=[])
    with pytest.raises(InvalidParameter, match="single path component"):
        await traces.delete_traces(other, max_timestamp_millis=None, max_traces=None,
                                   trace_ids=["a/b"])  # fmt: skip
    with pytest.raises(ResourceNotFound, match=r"^Experiment 42 does not exist.$"):
        await traces.delete_traces("42", max_timestamp_millis=1, max_traces=None, trace_ids=[])
    trace_info = Path(aio.root.root) / other / "traces" / "tr-abc" / "trace_info.yaml"
    write_yaml_file(str(trace_info), {"trace_id": "tr-other", "trace_location": {}}, overwrite=True)
    with pytest.raises(InvalidState, match="metadata is in invalid state"):
        await traces.get_trace_info("tr-abc")


async def test_v2_yaml_malformed_traces_and_oldest_first_deletes(
    stores: tuple[FileStore, FileTrackingStore, FileTraceStore],
) -> None:
    _, aio, traces = stores
    exp = await aio.create_experiment("e", None, [])
    for i, t in enumerate([T0 + 5, T0 + 1, T0 + 1, T0 + 9]):
        await traces.start_trace(_info(exp, f"tr-{i}", request_time=t))
    legacy = Path(aio.root.root) / exp / "traces" / "legacy"
    (legacy / "tags").mkdir(parents=True)
    write_yaml_file(  # what MLflow 2.x wrote (TraceInfoV2.to_dict())
        str(legacy / "trace_info.yaml"),
        {"request_id": "legacy", "experiment_id": exp, "timestamp_ms": T0,
         "execution_time_ms": 3, "status": "TRACE_STATUS_UNSPECIFIED"},
    )  # fmt: skip
    (legacy / "tags" / "k").write_text("v")
    broken = Path(aio.root.root) / exp / "traces" / "broken"
    broken.mkdir()
    (broken / "trace_info.yaml").write_text("[unclosed")
    info = await traces.get_trace_info("legacy")
    assert (info.state, info.execution_duration, info.tags) == ("STATE_UNSPECIFIED", 3, {"k": "v"})

    found, token = await traces.search_traces(
        [exp], filter_string="status = 'TRACE_STATUS_UNSPECIFIED'", max_results=10,
        order_by=[], page_token=None,
    )  # fmt: skip
    assert ([i.trace_id for i in found], token) == (["legacy"], None)
    found, _ = await traces.search_traces(
        [exp], filter_string=None, max_results=10, order_by=["timestamp_ms ASC"], page_token=None
    )
    assert [i.trace_id for i in found] == ["legacy", "tr-1", "tr-2", "tr-0", "tr-3"]
    for where, expected in [
        ("tag.k = 'v' AND metadata.`mlflow.user` IS NULL", ["legacy"]),
        ("tag.`../../k` IS NULL AND tag.`/etc/passwd` IS NULL", [i.trace_id for i in found]),
        ("tag.multi LIKE 'x%' AND metadata.empty = ''", ["tr-1", "tr-2", "tr-0", "tr-3"]),
    ]:
        matched, _ = await traces.search_traces(
            [exp], filter_string=where, max_results=10, order_by=["timestamp_ms"], page_token=None
        )
        assert [i.trace_id for i in matched] == expected, where
        assert all(i.tags == {t.trace_id: t for t in found}[i.trace_id].tags for i in matched)

    deleted = await traces.delete_traces(
        exp, max_timestamp_millis=T0 + 5, max_traces=2, trace_ids=[]
    )
    assert deleted == 2  # the legacy trace and tr-1 (ties by id)
    left, _ = await traces.search_traces(
        [exp], filter_string=None, max_results=10, order_by=[], page_token=None
    )
    assert [i.trace_id for i in left] == ["tr-3", "tr-0", "tr-2"]
    assert await traces.batch_get_trace_infos(["tr-2", "nope", "broken", "tr-2"]) == [left[2]]


async def test_span_contents_only_inside_the_store(
    stores: tuple[FileStore, FileTrackingStore, FileTraceStore], tmp_path: Path
) -> None:
    _, aio, traces = stores
    exp = await aio.create_experiment("e", None, [])  # artifacts under the store root
    inside = await traces.start_trace(_info(exp, "tr-in"))
    spans = [{"span_id": "a", "attributes": {"x": "NaN"}, "n": float("nan")}, {"span_id": "b"}]
    _write_file(
        Path(inside.tags["mlflow.artifactLocation"].removeprefix("file://")) / "traces.json",
        json.dumps({"spans": spans}),
    )
    await traces.set_trace_tag("tr-in", "unrelated", "x")
    outside_dir = tmp_path / "elsewhere"
    outside_dir.mkdir()
    (outside_dir / "traces.json").write_text(json.dumps({"spans": spans}))
    await traces.start_trace(_info(exp, "tr-out"))
    tag = Path(aio.root.root) / exp / "traces" / "tr-out" / "tags" / "mlflow.artifactLocation"
    tag.write_text(outside_dir.as_uri())
    found = await traces.get_span_contents(["tr-in", "tr-out", "tr-none"])
    assert list(found) == ["tr-in"]
    assert [json.loads(s)["span_id"] for s in found["tr-in"]] == ["a", "b"]


def _write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


ASSESSMENTS: list[dict[str, Any]] = [
    {"assessment_id": "a-1", "assessment_name": "ok", "trace_id": "tr-1",
     "create_time": "2026-01-02T03:04:05.678901Z", "last_update_time": "2026-01-02T03:04:06Z",
     "source": {"source_type": "HUMAN", "source_id": "me"}, "feedback": {"value": 0.5},
     "rationale": "r", "metadata": {"k": "v"}, "span_id": "s1", "overrides": "a-0",
     "valid": False, "run_id": "run-1"},
    {"assessment_id": "a-2", "assessment_name": "want", "trace_id": "tr-1",
     "create_time": "2026-01-02T03:04:05Z", "last_update_time": "2026-01-02T03:04:05Z",
     "source": {"source_type": "CODE", "source_id": "x"},
     "expectation": {"serialized_value": {"serialization_format": "JSON_FORMAT",
                                          "value": '{"a": [1, 2]}'}},
     "rationale": "dropped", "valid": True},
    {"assessment_name": "bad", "create_time": "2026-01-02T03:04:05Z",
     "last_update_time": "2026-01-02T03:04:05Z",
     "source": {"source_type": "LLM_JUDGE", "source_id": "j"},
     "feedback": {"value": None, "error": {"error_code": "E", "error_message": "m"}}},
    {"assessment_id": "a-4", "assessment_name": "iss-1", "trace_id": "",
     "create_time": "2026-01-02T03:04:05Z", "last_update_time": "2026-01-02T03:04:05Z",
     "source": {"source_type": "LLM_JUDGE", "source_id": "j"}, "issue": {"issue_name": "slow"},
     "rationale": "kept"},
]  # fmt: skip


@pytest.mark.parametrize("stored", ASSESSMENTS)
def test_assessments_answered_as_mlflow_converts_them(stored: dict[str, Any]) -> None:
    entity = MlflowAssessment.from_dictionary(stored)
    assert assessment_json(stored) == MessageToDict(
        entity.to_proto(), preserving_proto_field_name=True
    )
