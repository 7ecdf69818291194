"""Run by test_trace_client318.py under the MLflow **3.18.0** client (``.venv-ref18/bin/python``),
never imported by the test process: logs traces through the 3.18 client against the server at
``argv[1]`` in a new experiment named ``argv[2]``, reads them back with the same client, and
prints one JSON object with what it saw.
"""

from __future__ import annotations

import json
import sys

import mlflow
from mlflow import MlflowClient
from mlflow.entities import SpanType


def main(url: str, experiment_name: str) -> None:
    mlflow.set_tracking_uri(url)
    experiment_id = mlflow.set_experiment(experiment_name).experiment_id

    @mlflow.trace(span_type=SpanType.TOOL)
    def lookup(key: str) -> str:
        if key == "bad":
            raise KeyError(key)
        return key.upper()

    @mlflow.trace(span_type=SpanType.AGENT)
    def agent(question: str) -> dict[str, str]:
        mlflow.update_current_trace(tags={"client": "3.18"}, client_request_id=f"cr-{question}")
        with mlflow.start_span("plan", span_type=SpanType.CHAIN) as span:
            span.set_inputs({"q": question})
            span.set_attribute("steps", 2)
            span.set_outputs(["lookup"])
        try:
            lookup("bad")
        except KeyError:
            pass
        return {"answer": lookup(question)}

    ids = []
    agent("one")
    ids.append(mlflow.get_last_active_trace_id())
    with mlflow.start_run() as run:
        agent("two")
        ids.append(mlflow.get_last_active_trace_id())
    mlflow.flush_trace_async_logging()

    client = MlflowClient()
    traces = client.search_traces(locations=[experiment_id], order_by=["timestamp_ms ASC"])
    in_run = client.search_traces(locations=[experiment_id], run_id=run.info.run_id)
    tagged = client.search_traces(
        locations=[experiment_id], filter_string="tags.client = '3.18' AND span.name = 'plan'"
    )
    frame = mlflow.search_traces(locations=[experiment_id])
    got = client.get_trace(ids[0])
    client.set_trace_tag(ids[0], "reviewed", "yes")
    client.delete_trace_tag(ids[0], "client")
    after_tags = client.get_trace(ids[0]).info.tags
    print(
        json.dumps(
            {
                "mlflow_version": mlflow.__version__,
                "experiment_id": experiment_id,
                "run_id": run.info.run_id,
                "logged": ids,
                "searched": [t.info.trace_id for t in traces],
                "in_run": [t.info.trace_id for t in in_run],
                "tagged": sorted(t.info.trace_id for t in tagged),
                "frame_ids": sorted(frame["trace_id"]),
                "spans": sorted(
                    [s.name, s.span_type, s.status.status_code.value] for s in got.data.spans
                ),
                "client_request_id": got.info.client_request_id,
                "state": got.info.state.value,
                "tags_after": {k: v for k, v in after_tags.items() if not k.startswith("mlflow.")},
                "deleted": client.delete_traces(experiment_id, trace_ids=[ids[1]]),
                "left": [t.info.trace_id for t in client.search_traces(locations=[experiment_id])],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
