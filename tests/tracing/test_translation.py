"""The translation shortcut: a span with no key a translator reads gets what the full pass gives.

``translate_attributes`` skips the twelve translators when ``may_translate`` says none of them
reads any of the span's attributes. These tests run the full pass (``may_translate`` forced
true) beside the shortcut over attribute sets made of everything *but* the watched keys: MLflow's
own keys and near misses of every watched key. The differential tests cover the rest.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from aiotrack.tracing import translation
from aiotrack.tracing.translation import WATCHED_KEYS, WATCHED_PREFIXES, may_translate

_VALUES = [
    '"text"',
    '"LLM"',
    '"chat"',
    "12",
    '"12"',
    "true",
    "null",
    "{}",
    '{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}',
    '[{"role": "user", "content": "x"}]',
    '{"input_tokens": 3, "output_tokens": 4}',
    "not json",
    '"claude_code.tool"',
    '"gemini-cli"',
]
_MLFLOW_KEYS = [
    "mlflow.spanInputs",
    "mlflow.spanOutputs",
    "mlflow.spanType",
    "mlflow.traceRequestId",
    "mlflow.spanFunctionName",
    "mlflow.chat.tokenUsage",
    "mlflow.llm.model",
    "session.id",
    "user.id",
    "model",
    "service.name",
]


def _near_misses() -> list[str]:
    keys = set()
    for key in WATCHED_KEYS:
        keys.update({key[:-1], key + "x", key.upper(), "x" + key})
    for prefix in WATCHED_PREFIXES:
        keys.update({prefix[:-1], prefix[:-1] + "_x", prefix.upper() + "x"})
    return sorted(k for k in keys if k and not may_translate({k: "1"}))


def test_watched_keys_are_watched() -> None:
    assert all(may_translate({key: "1"}) for key in WATCHED_KEYS)
    assert may_translate({"gen_ai.prompt.0.content": "x", "lk.anything": "y"})
    assert not may_translate({key: "1" for key in _MLFLOW_KEYS})


@pytest.mark.parametrize("seed", range(40))
def test_shortcut_equals_full_pass(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    vocabulary = _MLFLOW_KEYS + _near_misses()
    attributes = {key: rng.choice(_VALUES) for key in rng.sample(vocabulary, k=12)}
    event_names = ["gen_ai.choice", "tool.output", "exception", "gen_ai.content.prompt", "x"]
    events: list[dict[str, Any]] = [
        {
            "name": rng.choice(event_names),
            "time_unix_nano": 1,
            "attributes": {"content": "c", "gen_ai.prompt": "p", "output": "o"},
        }
        for _ in range(rng.randrange(3))
    ]
    shortcut = dict(attributes)
    translation.translate_attributes(shortcut, events, None)
    monkeypatch.setattr(translation, "may_translate", lambda attributes: True)
    full = dict(attributes)
    translation.translate_attributes(full, events, None)
    assert json.dumps(shortcut) == json.dumps(full)
