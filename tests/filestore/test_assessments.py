"""Trace assessments on the ``./mlruns`` file store, as MLflow 3.18's ``FileStore`` keeps them.

1. The real mlflow client (``log_feedback``, ``log_expectation``, ``override_feedback``,
   ``update_assessment``, ``delete_assessment``, ``get_assessment``) through an aiotrack server
   on an mlruns directory; the files are MLflow's (``assessments/<id>.yaml``).
2. Drop-in with the reference ``mlflow server`` 3.18: the same requests on two copies of a store
   the MLflow 3.18 client wrote get the same answers (generated ids and times aside) and leave
   the same files, byte for byte; each server reads the other's assessments with the other's
   answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.servers import RunningServer, reference18_bin, start_aiotrack, start_mlflow_reference

pytestmark = [pytest.mark.compat]

os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"

import mlflow  # noqa: E402  (after the variables the client reads at import)
from mlflow.entities import AssessmentSource, Expectation, Feedback  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402

from tests.filestore.test_traces import _run_client  # noqa: E402

V3 = "/api/3.0/mlflow/traces"
TIMEOUT_S = 60
_ID = re.compile(r"a-[0-9a-f]{32}")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")


@pytest.fixture
def client_reset() -> Iterator[None]:
    yield
    mlflow.set_tracking_uri("")


def _assessment_files(root: Path) -> dict[str, str]:
    """``<trace id>/<file name>`` -> text of every assessment file under ``root``."""
    return {
        f"{p.parent.parent.name}/{p.name}": p.read_text()
        for p in sorted(root.glob("*/traces/*/assessments/*"))
    }


def _one_trace(url: str) -> str:
    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("assessed")

    @mlflow.trace
    def answer(question: str) -> str:
        return question.upper()

    answer("why")
    trace_id = mlflow.get_last_active_trace_id()
    assert trace_id is not None
    return trace_id


def test_client_logs_updates_overrides_and_deletes_assessments(
    tmp_path: Path, client_reset: None
) -> None:
    root = tmp_path / "mlruns"
    with start_aiotrack(str(root), tmp_path) as aio:
        trace_id = _one_trace(aio.url)
        human = AssessmentSource(source_type="HUMAN", source_id="me@example.com")
        fb = mlflow.log_feedback(
            trace_id=trace_id,
            name="relevance",
            value=0.5,
            rationale="partly",
            source=human,
            metadata={"round": "1"},
        )
        ex = mlflow.log_expectation(trace_id=trace_id, name="facts", value={"a": [1, 2]})
        err = mlflow.log_feedback(trace_id=trace_id, name="judge", error=ValueError("boom"))
        assert fb.assessment_id and _ID.fullmatch(fb.assessment_id)
        assert fb.valid is True

        got = mlflow.get_assessment(trace_id, fb.assessment_id)
        assert isinstance(got, Feedback)
        assert (got.value, got.rationale, got.metadata) == (0.5, "partly", {"round": "1"})
        assert got.source == human
        got_ex = mlflow.get_assessment(trace_id, ex.assessment_id)
        assert isinstance(got_ex, Expectation) and got_ex.value == {"a": [1, 2]}
        got_err = mlflow.get_assessment(trace_id, err.assessment_id)
        assert isinstance(got_err, Feedback) and got_err.error is not None
        assert (got_err.error.error_code, got_err.error.error_message) == ("ValueError", "boom")

        # The files are MLflow's: Assessment.to_dictionary() with sorted keys.
        adir = next(root.glob(f"*/traces/{trace_id}/assessments"))
        stored = yaml.safe_load((adir / f"{fb.assessment_id}.yaml").read_text())
        assert stored["feedback"] == {"value": 0.5}
        assert stored["valid"] is True and stored["trace_id"] == trace_id
        assert stored["source"] == {"source_type": "HUMAN", "source_id": "me@example.com"}
        stored_ex = yaml.safe_load((adir / f"{ex.assessment_id}.yaml").read_text())
        assert stored_ex["expectation"] == {
            "serialized_value": {"serialization_format": "JSON_FORMAT", "value": '{"a": [1, 2]}'}
        }

        # Override: the original becomes invalid; deleting the override restores it.
        new = mlflow.override_feedback(
            trace_id=trace_id, assessment_id=fb.assessment_id, value=0.9, rationale="fully"
        )
        assert new.overrides == fb.assessment_id
        assert mlflow.get_assessment(trace_id, fb.assessment_id).valid is False
        info = mlflow.get_trace(trace_id).info
        by_id = {a.assessment_id: a for a in info.assessments}
        assert set(by_id) == {fb.assessment_id, ex.assessment_id, err.assessment_id,
                              new.assessment_id}  # fmt: skip
        assert by_id[fb.assessment_id].valid is False
        assert by_id[new.assessment_id].valid is True

        # Update: value, name, rationale, merged metadata; source and times kept.
        updated = mlflow.update_assessment(
            trace_id,
            new.assessment_id,
            Feedback(name="relevance2", value=1.0, rationale="all", metadata={"round": "2"}),
        )
        assert isinstance(updated, Feedback)
        assert (updated.name, updated.value, updated.rationale) == ("relevance2", 1.0, "all")
        assert updated.metadata == {"round": "2"}
        assert updated.overrides == fb.assessment_id and updated.valid is True
        again = mlflow.get_assessment(trace_id, new.assessment_id)
        assert (again.name, again.value, again.create_time_ms) == (
            "relevance2", 1.0, new.create_time_ms
        )  # fmt: skip
        assert again.last_update_time_ms >= new.last_update_time_ms
        ex2 = mlflow.update_assessment(trace_id, ex.assessment_id, Expectation("facts", "x"))
        assert mlflow.get_assessment(trace_id, ex2.assessment_id).value == "x"

        mlflow.delete_assessment(trace_id, new.assessment_id)
        mlflow.delete_assessment(trace_id, new.assessment_id)  # idempotent
        assert mlflow.get_assessment(trace_id, fb.assessment_id).valid is True
        with pytest.raises(MlflowException, match="not found for trace") as missing:
            mlflow.get_assessment(trace_id, new.assessment_id)
        assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
        with pytest.raises(MlflowException, match="Cannot update feedback value") as wrong:
            mlflow.update_assessment(trace_id, ex.assessment_id, Feedback(name="f", value=1))
        assert wrong.value.error_code == "INVALID_PARAMETER_VALUE"
        with pytest.raises(MlflowException, match="Trace with ID 'tr-nope' not found"):
            mlflow.get_assessment("tr-nope", fb.assessment_id)

        for a in (fb, ex, err):
            mlflow.delete_assessment(trace_id, a.assessment_id)
        assert not adir.exists()  # the empty folder goes, as in MLflow
        assert mlflow.get_trace(trace_id).info.assessments == []


# ------------------------------------------------------------------------------------ drop-in

#: Run by the MLflow 3.18 client against ``file://<root>``: two traces, a feedback overridden by
#: another, an expectation (a list, stored serialised) and an issue-free feedback with an error.
WRITER = r"""
import json, sys, mlflow
from mlflow.entities import AssessmentSource
mlflow.set_tracking_uri(sys.argv[1])
exp = mlflow.set_experiment("file-assessments")

@mlflow.trace
def double(x):
    return x * 2

ids = []
for i in range(2):
    double(i)
    ids.append(mlflow.get_last_active_trace_id())
fb = mlflow.log_feedback(trace_id=ids[0], name="good", value=True, rationale="fine",
                         source=AssessmentSource(source_type="HUMAN", source_id="me"),
                         metadata={"k": "v"})
over = mlflow.override_feedback(trace_id=ids[0], assessment_id=fb.assessment_id, value=False,
                                rationale="not really")
ex = mlflow.log_expectation(trace_id=ids[0], name="want", value=[1, "two"])
err = mlflow.log_feedback(trace_id=ids[1], name="judge", error=ValueError("boom"))
print(json.dumps({"experiment_id": exp.experiment_id, "trace_ids": ids,
                  "assessment_ids": [fb.assessment_id, over.assessment_id, ex.assessment_id,
                                     err.assessment_id]}))
"""


def _ask(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    resp = requests.request(method, base + path, json=body, timeout=TIMEOUT_S)
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, resp.text


def _reads(written: dict[str, Any]) -> list[tuple[str, str, Any]]:
    t0, t1 = written["trace_ids"]
    fb, over, ex, err = written["assessment_ids"]
    plan: list[tuple[str, str, Any]] = [
        ("GET", f"{V3}/{t}/assessments/{a}", None)
        for t, a in ((t0, fb), (t0, over), (t0, ex), (t1, err))
    ]
    plan += [
        ("GET", f"{V3}/{t0}/assessments/{err}", None),
        ("GET", f"{V3}/tr-nope/assessments/{fb}", None),
        ("GET", f"{V3}/{t0}/assessments/a.", None),
        ("GET", f"{V3}/{t0}/assessments/a-nope", None),
    ]
    return plan


def _feedback_body(**extra: Any) -> dict[str, Any]:
    return {
        "assessment": {
            "assessment_name": "rel",
            "source": {"source_type": "LLM_JUDGE", "source_id": "gpt"},
            "feedback": {"value": 3},
            "rationale": "r",
            "metadata": {"m": "1"},
            **extra,
        }
    }


#: Writes on a store written by :data:`WRITER`: ``{"$<n>"}`` in a path or ``overrides`` is the
#: id created by the n-th step (counting creates only), ``{"@<n>"}`` the n-th written id.
WRITES: list[tuple[str, str, Any]] = [
    ("POST", "{t0}/assessments", _feedback_body()),
    ("POST", "{t0}/assessments", _feedback_body(overrides="{$0}", span_id="s1")),
    ("POST", "{t1}/assessments", {"assessment": {
        "assessment_name": "exp", "source": {"source_type": "HUMAN"},
        "expectation": {"value": {"x": [1, 2.5]}}, "rationale": "dropped",
        "assessment_id": "a-mine", "create_time": "2020-01-01T00:00:00Z"}}),
    ("POST", "{t1}/assessments", {"assessment": {
        "assessment_name": "issue-1", "source": {"source_type": "CODE"},
        "issue": {"issue_name": "slow"}, "rationale": "why"}}),
    ("POST", "{t0}/assessments", _feedback_body(overrides="a-nope")),
    ("POST", "tr-nope/assessments", _feedback_body()),
    ("GET", "{t0}/assessments/{$0}", None),
    ("GET", "{t1}/assessments/{$2}", None),
    ("GET", "{t1}/assessments/{$3}", None),
    ("PATCH", "{t0}/assessments/{$1}", {
        "assessment": {"assessment_name": "rel2", "feedback": {"value": "yes"},
                       "rationale": "changed", "metadata": {"n": "2"}},
        "update_mask": "assessmentName,feedback,rationale,metadata"}),
    ("PATCH", "{t1}/assessments/{$2}", {
        "assessment": {"expectation": {"value": 7}}, "update_mask": "expectation"}),
    ("PATCH", "{t0}/assessments/{@0}", {
        "assessment": {"rationale": "later"}, "update_mask": "rationale"}),
    ("PATCH", "{t0}/assessments/{@2}", {
        "assessment": {"feedback": {"value": 1}}, "update_mask": "feedback"}),
    ("PATCH", "{t0}/assessments/a-nope", {
        "assessment": {"rationale": "x"}, "update_mask": "rationale"}),
    ("GET", "{t0}/assessments/{$0}", None),
    ("DELETE", "{t0}/assessments/{$1}", None),
    ("GET", "{t0}/assessments/{$0}", None),
    ("DELETE", "{t0}/assessments/{@1}", None),
    ("DELETE", "{t0}/assessments/a-nope", None),
    ("DELETE", "tr-nope/assessments/a-nope", None),
    ("GET", "{t0}/assessments/{@0}", None),
    ("GET", "{t0}", None),
    ("GET", "{t1}", None),
]  # fmt: skip


def _run_writes(server: RunningServer, written: dict[str, Any]) -> tuple[list[Any], list[str]]:
    """The answers to :data:`WRITES`, and the ids the creates made."""
    t0, t1 = written["trace_ids"]
    created: list[str] = []
    answers: list[Any] = []

    def fill(text: str) -> str:
        text = text.replace("{t0}", t0).replace("{t1}", t1)
        text = re.sub(r"\{\$(\d)\}", lambda m: created[int(m.group(1))], text)
        return re.sub(r"\{@(\d)\}", lambda m: written["assessment_ids"][int(m.group(1))], text)

    for method, path, body in WRITES:
        status, answer = _ask(
            server.url,
            method,
            f"{V3}/{fill(path)}",
            json.loads(fill(json.dumps(body))) if body is not None else None,
        )
        if method == "POST" and status == 200:
            created.append(answer["assessment"]["assessment_id"])
        answers.append((status, answer))
    return answers, created


def _normalized(value: Any, created: list[str]) -> Any:
    """``value`` (JSON or text) with created ids as ``<n>`` and times as ``<time>``;
    ``assessments`` lists sorted (MLflow lists them in directory order)."""
    text = json.dumps(value) if not isinstance(value, str) else value
    for n, assessment_id in enumerate(created):
        text = text.replace(assessment_id, f"<{n}>")
    text = _TIME.sub("<time>", text)
    if isinstance(value, str):
        return text
    data = json.loads(text)

    def sort(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: sort(v) for k, v in node.items()}
            if isinstance(out.get("assessments"), list):
                out["assessments"] = sorted(out["assessments"], key=json.dumps)
            return out
        if isinstance(node, list):
            return [sort(v) for v in node]
        return node

    return sort(data)


def _start_reference(root: Path, workdir: Path) -> RunningServer:
    return start_mlflow_reference(
        str(root), workdir, "--artifacts-destination", str(workdir / "art"),
        bindir=reference18_bin(),
    )  # fmt: skip


def test_drop_in_with_reference_server(tmp_path: Path) -> None:
    base = tmp_path / "mlruns"
    written = _run_client(str(reference18_bin() / "python"), WRITER, tmp_path, base.as_uri())
    ref_root, aio_root = tmp_path / "ref-mlruns", tmp_path / "aio-mlruns"
    shutil.copytree(base, ref_root)
    shutil.copytree(base, aio_root)
    reads = _reads(written)

    with _start_reference(ref_root, tmp_path / "ref") as ref:
        want_reads = [_ask(ref.url, m, p, b) for m, p, b in reads]
        want, ref_ids = _run_writes(ref, written)
    with start_aiotrack(str(aio_root), tmp_path / "aio") as aio:
        got_reads = [_ask(aio.url, m, p, b) for m, p, b in reads]
        got, aio_ids = _run_writes(aio, written)
        # The reference server's files, read by aiotrack, answer as the reference did.
        mixed = [_ask(aio.url, "GET", f"{V3}/{t}", None) for t in written["trace_ids"]]
    assert len(ref_ids) == len(aio_ids) == 4

    # MLflow answers 500 where it reads an assessment id that is no file name.
    assert want_reads[6][0] == 400 and got_reads[6][0] == 400
    assert want_reads == got_reads
    different = [
        f"{m} {p}\n  mlflow:   {json.dumps(a)[:800]}\n  aiotrack: {json.dumps(b)[:800]}"
        for (m, p, _), a, b in zip(WRITES, want, got, strict=True)
        if _normalized(a, ref_ids) != _normalized(b, aio_ids)
    ]
    assert not different, "\n".join(different)
    assert [s for s, _ in got][:6] == [200, 200, 200, 200, 404, 404]

    # Byte-compatible files: the same names and contents (ids and times aside).
    ref_files = {
        _normalized(k, ref_ids): _normalized(v, ref_ids)
        for k, v in _assessment_files(ref_root).items()
    }
    aio_files = {
        _normalized(k, aio_ids): _normalized(v, aio_ids)
        for k, v in _assessment_files(aio_root).items()
    }
    assert ref_files == aio_files
    assert len(aio_files) >= 5

    # Each server reads the other's files with the other's answers.
    with _start_reference(aio_root, tmp_path / "ref2") as ref:
        cross = [_ask(ref.url, "GET", f"{V3}/{t}", None) for t in written["trace_ids"]]
    assert _normalized(cross, aio_ids) == _normalized(want[-2:], ref_ids)
    assert mixed == cross
