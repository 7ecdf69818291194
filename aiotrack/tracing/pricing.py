"""Where an ingested LLM span's cost comes from: MLflow's model catalog, or none.

MLflow prices a span carrying token usage and a model name when it stores it
(``calculate_cost_by_model_and_token_usage``; on a server without litellm, the bundled catalog
of ``mlflow/utils/model_catalog/<provider>.json``). ``ModelCatalog`` reads a directory of those
files (MLflow's own, or a copy) and prices exactly as that code does; without a catalog, spans
are stored without a cost, as MLflow stores a model its catalog does not list.

Not reproduced: a server with ``MLFLOW_MODEL_CATALOG_URI`` reachable fetches newer per-provider
files over the network first, and one with litellm installed prices with litellm.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

__all__ = ["ModelCatalog", "PriceCatalog", "default_catalog", "mlflow_catalog_directory"]

# Model URI prefixes that are routing identifiers, not model names (never priced).
_SKIP_PREFIXES = ("gateway:/", "endpoints:/")


class PriceCatalog(Protocol):
    """Prices token usage: ``{"input_cost", "output_cost", "total_cost"}`` in USD, or None."""

    def cost(self, model_name: Any, usage: Any, model_provider: Any) -> dict[str, float] | None: ...


def mlflow_catalog_directory() -> Path | None:
    """The model catalog an installed ``mlflow`` package bundles, if there is one.

    Looks the package up without importing it; ``mlflow-skinny`` has no catalog.
    """
    spec = importlib.util.find_spec("mlflow")
    for location in (spec.submodule_search_locations or []) if spec else []:
        directory = Path(location) / "utils" / "model_catalog"
        if any(directory.glob("*.json")):
            return directory
    return None


def _flatten(entry: Mapping[str, Any]) -> dict[str, float]:
    """The per-token prices of one catalog entry (``providers._flatten_catalog_entry``)."""
    info: dict[str, float] = {}
    pricing = entry.get("pricing") or {}
    for key, name in (
        ("input_per_million_tokens", "input_cost_per_token"),
        ("output_per_million_tokens", "output_cost_per_token"),
        ("cache_read_per_million_tokens", "cache_read_input_token_cost"),
        ("cache_write_per_million_tokens", "cache_creation_input_token_cost"),
        ("cache_write_1hr_per_million_tokens", "cache_creation_input_token_cost_above_1hr"),
    ):
        if (value := pricing.get(key)) is not None:
            info[name] = value / 1_000_000
    return info


class ModelCatalog:
    """MLflow's bundled-catalog pricing over a directory of ``<provider>.json`` files.

    Loading reads every file (a few MB for MLflow's catalog): do it once, off the event loop.
    """

    def __init__(self, providers: Mapping[str, Mapping[str, dict[str, float]]]) -> None:
        self._providers = dict(providers)
        self._scan_order = sorted(self._providers)

    @classmethod
    def from_directory(cls, directory: Path | str) -> ModelCatalog:
        """Load every ``*.json`` catalog file in ``directory`` (the provider is the file stem)."""
        providers = {}
        for path in sorted(Path(directory).glob("*.json")):
            catalog = json.loads(path.read_text("utf-8"))
            providers[path.stem] = {
                name: _flatten(entry) for name, entry in catalog.get("models", {}).items()
            }
        return cls(providers)

    def _lookup(self, model: str, provider: str | None) -> dict[str, float] | None:
        bare_model = model.split("/", 1)[-1]
        if provider:
            return self._providers.get(provider, {}).get(bare_model)
        # No provider: the first provider (by name) listing the model with an input price,
        # else the first listing it at all (priced at zero).
        fallback = None
        for name in self._scan_order:
            if (info := self._providers[name].get(bare_model)) is not None:
                if info.get("input_cost_per_token"):
                    return info
                if fallback is None:
                    fallback = info
        return fallback

    def _cost_per_token(
        self, model: str, prompt: int, completion: int, provider: str | None, cache: dict[str, Any]
    ) -> tuple[float, float] | None:
        info = self._lookup(model, provider)
        if info is None:
            return None
        input_rate = info.get("input_cost_per_token", 0.0)
        # prompt includes the cached tokens: each category is priced at its own rate.
        cache_read = cache.get("cache_read_input_tokens") or 0
        cache_creation = cache.get("cache_creation_input_tokens") or 0
        regular = max(prompt - cache_read - cache_creation, 0)
        creation_1hr = min(cache.get("cache_creation_input_tokens_above_1hr") or 0, cache_creation)
        creation_5m = cache_creation - creation_1hr
        creation_rate = info.get("cache_creation_input_token_cost", input_rate)
        input_cost = regular * input_rate
        if cache_read > 0:
            input_cost += cache_read * info.get("cache_read_input_token_cost", input_rate)
        if creation_5m > 0:
            input_cost += creation_5m * creation_rate
        if creation_1hr > 0:
            input_cost += creation_1hr * info.get(
                "cache_creation_input_token_cost_above_1hr", creation_rate
            )
        return input_cost, completion * info.get("output_cost_per_token", 0.0)

    def cost(self, model_name: Any, usage: Any, model_provider: Any) -> dict[str, float] | None:
        """``calculate_cost_by_model_and_token_usage`` without litellm or a remote catalog.

        Raises on a model name that is not a string or usage that is not a mapping (MLflow's
        caller swallows that and stores no cost).
        """
        if not model_name or not usage:
            return None
        if model_name.startswith(_SKIP_PREFIXES):
            return None
        # Databricks endpoint names are priced from the Databricks catalog (3.18; 3.17.2 did so
        # only when no provider was named).
        if model_name.startswith(("databricks-", "databricks/")):
            model_provider = "databricks"
        prompt = usage.get("input_tokens", 0)
        completion = usage.get("output_tokens", 0)
        if prompt == 0 and completion == 0:
            return None
        cache = {}
        for key in (
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
            "cache_creation_input_tokens_above_1hr",
        ):
            if (value := usage.get(key)) is not None:
                cache[key] = value
        result = None
        if model_provider:
            try:
                result = self._cost_per_token(
                    model_name, prompt, completion, model_provider.lower(), cache
                )
            except Exception:
                result = None
        if result is None:
            try:
                result = self._cost_per_token(model_name, prompt, completion, None, cache)
            except Exception:
                result = None
        if result is None:
            return None
        input_cost, output_cost = result
        return {
            "input_cost": input_cost,
            "output_cost": output_cost,
            "total_cost": input_cost + output_cost,
        }


def default_catalog() -> ModelCatalog | None:
    """The installed ``mlflow`` package's catalog, loaded, or None (blocking: run in a thread)."""
    directory = mlflow_catalog_directory()
    return ModelCatalog.from_directory(directory) if directory else None
