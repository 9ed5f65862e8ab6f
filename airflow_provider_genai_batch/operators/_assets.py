"""Asset events carrying a batch job's bookkeeping: when an operator declares ``outlets``, each ``Asset``'s event
gets the job name, state, counts and token totals as its ``extra``, so a DAG scheduled on the asset can read them
(``triggering_asset_events`` in its context).

Example::

    GenAIBatchWriteResultsOperator(..., outlets=[Asset("gs://bucket/results/nightly.jsonl")])
    # the consumer: triggering_asset_events[asset][0].extra["usage"]["total_tokens"]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["emit_asset_extra"]


def emit_asset_extra(operator: Any, context: Mapping[str, Any], extra: Mapping[str, Any]) -> int:
    """Put ``extra`` (JSON-ready) on the event of every ``Asset`` among the operator's outlets; return how many.

    Asset aliases are left alone (their events need an asset chosen at run time). Nothing happens without
    outlets or outside a task instance (no ``outlet_events`` in the context).
    """
    outlets = getattr(operator, "outlets", None) or []
    events = context.get("outlet_events") if hasattr(context, "get") else None
    if not outlets or events is None:
        return 0
    from airflow.sdk import Asset

    payload = json.loads(json.dumps(dict(extra), default=str))  # plain JSON values only, as the API server stores
    emitted = 0
    for outlet in outlets:
        if isinstance(outlet, Asset):
            events[outlet].extra.update(payload)
            emitted += 1
    return emitted
