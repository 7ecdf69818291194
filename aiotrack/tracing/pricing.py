"""Where an ingested LLM span's cost comes from: a price catalog, or none.

MLflow prices a span carrying token usage and a model name when it stores it
(``calculate_cost_by_model_and_token_usage``). ``PriceCatalog`` is that lookup; without one,
spans are stored without a cost, as MLflow does for a model its catalog does not list.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["PriceCatalog"]


class PriceCatalog(Protocol):
    """Prices token usage: ``{"input_cost", "output_cost", "total_cost"}`` in USD, or None."""

    def cost(self, model_name: Any, usage: Any, model_provider: Any) -> dict[str, float] | None: ...
