"""Summary pieces against the MLflow client library in this venv (3.17.2), in-process.

Where 3.17.2 and 3.18 agree (the tree-aware usage and cost aggregation; previews of text
without NUL characters, which only 3.18 replaces) these run without the 3.18 oracle venv.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from mlflow.tracing.utils import (
    SpanAggregationNode,
    aggregate_cost_from_span_nodes,
    aggregate_usage_from_span_nodes,
)
from mlflow.tracing.utils.truncation import _get_truncated_preview

from aiotrack.tracing.summary import aggregate_cost, aggregate_usage, node_data, truncated_preview


def _random_tree(rng: random.Random, size: int) -> list[tuple[str, str | None]]:
    ids = [f"{i:016x}" for i in range(size)]
    nodes: list[tuple[str, str | None]] = []
    for i, span_id in enumerate(ids):
        # Roots, children of earlier spans, and orphans whose parent is not in the batch.
        choice = rng.random()
        parent = (
            None if i == 0 or choice < 0.1 else ("f" * 16 if choice < 0.2 else rng.choice(ids[:i]))
        )
        nodes.append((span_id, parent))
    rng.shuffle(nodes)
    return nodes


@pytest.mark.parametrize("seed", range(30))
def test_aggregation_matches_mlflow(seed: int) -> None:
    rng = random.Random(seed)
    tree = _random_tree(rng, rng.randrange(1, 40))
    usage: list[Any] = []
    cost: list[Any] = []
    for _ in tree:
        u = rng.choice(
            [
                None,
                {"input_tokens": rng.randrange(100), "output_tokens": rng.randrange(50)},
                {"input_tokens": 3, "total_tokens": 9, "cache_read_input_tokens": 2},
                {"cache_creation_input_tokens": 4, "cache_creation_input_tokens_above_1hr": 1},
            ]
        )
        c = rng.choice([None, {"input_cost": rng.random(), "output_cost": 0.5, "total_cost": 1.0}])
        usage.append(u)
        cost.append(c)
    mine_usage = aggregate_usage((s, p, u) for (s, p), u in zip(tree, usage, strict=True))
    mine_cost = aggregate_cost((s, p, c) for (s, p), c in zip(tree, cost, strict=True))
    theirs_usage = aggregate_usage_from_span_nodes(
        [SpanAggregationNode(s, p, u) for (s, p), u in zip(tree, usage, strict=True)]
    )
    theirs_cost = aggregate_cost_from_span_nodes(
        [SpanAggregationNode(s, p, c) for (s, p), c in zip(tree, cost, strict=True)]
    )
    assert mine_usage == theirs_usage
    assert mine_cost == theirs_cost


def test_node_data_reads_stored_attribute_values() -> None:
    assert node_data('{"input_tokens": 1}') == {"input_tokens": 1}
    assert node_data({"a": 1}) == {"a": 1}
    assert node_data('"text"') is None and node_data("[1]") is None and node_data(None) is None
    assert node_data("not json") is None


_PREVIEW_INPUTS: list[Any] = [
    "plain text, not JSON",
    json.dumps("a JSON string"),
    json.dumps(
        {"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "x"}]}
    ),
    json.dumps({"messages": [{"role": "system", "content": "only system"}]}),
    json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": "part"}]}]}),
    json.dumps({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
    json.dumps({"messages": [{"role": "user", "content": ["a str part"]}]}),
    json.dumps({"messages": [{"role": "user", "content": None}]}),
    json.dumps({"messages": "not a list"}),
    json.dumps({"messages": [], "input": [{"role": "user", "content": "from input"}]}),
    json.dumps({"choices": [{"message": {"role": "assistant", "content": "choice"}}]}),
    json.dumps({"choices": [{"message": {"role": "assistant"}}]}),
    json.dumps(
        {"output": [{"role": "assistant", "content": [{"type": "output_text", "text": "o"}]}]}
    ),
    json.dumps({"request": {"input": [{"role": "user", "content": "nested"}]}}),
    json.dumps({"request": "not a dict"}),
    json.dumps([{"role": "user", "content": "a list is not a chat object"}]),
    "é" * 999,
    "é" * 1000,
    "é" * 1001,
    json.dumps({"messages": [{"role": "user", "content": "ü" * 5000}]}),
    json.dumps({"k": "v" * 2000}, ensure_ascii=False),
    "NaN",
    "",
]


@pytest.mark.parametrize("value", _PREVIEW_INPUTS)
@pytest.mark.parametrize("role", ["user", "assistant"])
def test_previews_match_mlflow(value: Any, role: str) -> None:
    assert truncated_preview(value, role) == _get_truncated_preview(value, role)


def test_preview_replaces_nul_as_mlflow_318_does() -> None:
    # 3.18: "PostgreSQL text columns cannot store NUL characters".
    assert truncated_preview('"a\\u0000b"', "user") == '"a\\u0000b"'
    assert truncated_preview("a\x00b", "user") == "a\ufffdb"
    message = json.dumps({"messages": [{"role": "user", "content": "x\x00y"}]})
    assert truncated_preview(message, "user") == "x\ufffdy"


def test_preview_of_odd_text_content_raises() -> None:
    # MLflow fails on it too, and then sets no preview (summary._previews).
    message = json.dumps({"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]})
    with pytest.raises(AttributeError):
        truncated_preview(message, "user")
    with pytest.raises((AttributeError, TypeError)):  # 3.17.2: TypeError, 3.18: AttributeError
        _get_truncated_preview(message, "user")
