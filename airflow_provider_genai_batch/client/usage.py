"""Token usage of a batch job's results, summed per model while they stream, and an optional cost estimate.

Each response's ``usageMetadata`` (Gemini API and Vertex AI spell it the same) is read for five counts:
``promptTokenCount``, ``candidatesTokenCount``, ``thoughtsTokenCount``, ``cachedContentTokenCount`` and
``totalTokenCount``, summed under the response's ``modelVersion`` (or the job's model when the response names
none). Results without a response (per-request errors) or without usage metadata count nothing.

A price map turns the totals into an estimate. No price is built in: prices change and differ per backend,
region and tier (batch is billed at a discount), so give the prices you pay, in any currency, per million
tokens: ``{"gemini-2.5-flash": {"input": 0.15, "output": 1.25, "cached": 0.0375}}``. Input is prompt tokens
(cached ones at ``cached`` when given, else at ``input``); output is candidates plus thoughts tokens (thinking is
billed as output). A model is priced by the longest price-map key it starts with, so ``gemini-2.5-flash``
prices ``gemini-2.5-flash-001`` too.

Example::

    usage = UsageTotals(default_model="gemini-2.5-flash")
    for result in usage.track(client.batches.iter_results(job)):
        ...
    usage.to_dict()["total"]["total_tokens"]
    estimate_cost(usage.to_dict(), {"gemini-2.5-flash": {"input": 0.15, "output": 1.25}})
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.client.errors import InvalidInputError

if TYPE_CHECKING:
    from airflow_provider_genai_batch.client.results import BatchResult

__all__ = ["USAGE_FIELDS", "UsageTotals", "check_prices", "estimate_cost", "merge_usage"]

#: (wire name, our name) of each count summed.
USAGE_FIELDS: tuple[tuple[str, str], ...] = (
    ("promptTokenCount", "prompt_tokens"),
    ("candidatesTokenCount", "candidates_tokens"),
    ("thoughtsTokenCount", "thoughts_tokens"),
    ("cachedContentTokenCount", "cached_tokens"),
    ("totalTokenCount", "total_tokens"),
)
_NAMES = tuple(ours for _, ours in USAGE_FIELDS)
_PRICE_KEYS = ("input", "output", "cached")


class UsageTotals:
    """Token counts per model, added one response at a time (cheap: a few dict look-ups per result).

    Example::

        usage = UsageTotals()
        usage.add({"usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 5}, "modelVersion": "m"})
        usage.to_dict()["by_model"]["m"]["prompt_tokens"]     # 3
    """

    __slots__ = ("_by_model", "default_model")

    def __init__(self, default_model: str | None = None) -> None:
        self.default_model = (default_model or "unknown").rsplit("/", 1)[-1]
        self._by_model: dict[str, list[int]] = {}

    def add(self, response: Mapping[str, Any] | None) -> None:
        """Add one response's ``usageMetadata`` (nothing when it has none)."""
        if not response:
            return
        meta = response.get("usageMetadata")
        if not meta or not isinstance(meta, dict):
            return
        model = response.get("modelVersion")
        if not isinstance(model, str) or not model:
            model = self.default_model
        row = self._by_model.get(model)
        if row is None:
            row = self._by_model[model] = [0, 0, 0, 0, 0, 0]
        get = meta.get  # unrolled over USAGE_FIELDS: this runs once per result of a million-result job
        if type(value := get("promptTokenCount")) is int:
            row[0] += value
        if type(value := get("candidatesTokenCount")) is int:
            row[1] += value
        if type(value := get("thoughtsTokenCount")) is int:
            row[2] += value
        if type(value := get("cachedContentTokenCount")) is int:
            row[3] += value
        if type(value := get("totalTokenCount")) is int:
            row[4] += value
        row[5] += 1

    def track(self, results: Iterable[BatchResult]) -> Iterator[BatchResult]:
        """Yield ``results`` unchanged, adding each one's usage on the way."""
        add = self.add
        for result in results:
            add(result.response)
            yield result

    def to_dict(self) -> dict[str, Any]:
        """``{"by_model": {model: {"requests", "prompt_tokens", ...}}, "total": {...}}`` (JSON-ready)."""
        by_model = {model: _row_dict(row) for model, row in sorted(self._by_model.items())}
        return {"by_model": by_model, "total": _total(by_model.values())}


def _row_dict(row: list[int]) -> dict[str, int]:
    out = {"requests": row[5]}
    out.update(zip(_NAMES, row[:5], strict=True))
    return out


def _total(rows: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total = dict.fromkeys(("requests", *_NAMES), 0)
    for row in rows:
        for name in total:
            total[name] += int(row.get(name, 0))
    return total


def merge_usage(usages: Iterable[Mapping[str, Any] | None]) -> dict[str, Any]:
    """One usage dict (``UsageTotals.to_dict()`` shape) summing several, e.g. one per shard."""
    by_model: dict[str, dict[str, int]] = {}
    for usage in usages:
        for model, row in ((usage or {}).get("by_model") or {}).items():
            into = by_model.setdefault(model, dict.fromkeys(("requests", *_NAMES), 0))
            for name in into:
                into[name] += int(row.get(name, 0))
    ordered = dict(sorted(by_model.items()))
    return {"by_model": ordered, "total": _total(ordered.values())}


def check_prices(prices: Any, field: str = "prices") -> dict[str, dict[str, float]] | None:
    """The price map, validated: ``{model: {"input": n, "output": n[, "cached": n]}}`` per million tokens."""
    if prices is None:
        return None
    example = "e.g. {'gemini-2.5-flash': {'input': 0.15, 'output': 1.25}} (per million tokens)"
    if not isinstance(prices, Mapping) or not prices:
        raise InvalidInputError(field, f"must be a non-empty dict of model to prices, got {prices!r:.80}", example)
    checked: dict[str, dict[str, float]] = {}
    for model, price in prices.items():
        path = f"{field}.{model}"
        if not isinstance(model, str) or not model.strip():
            raise InvalidInputError(field, f"has a key {model!r:.80} that is not a model name", example)
        if not isinstance(price, Mapping):
            raise InvalidInputError(path, f"must be a dict with 'input' and 'output', got {price!r:.80}", example)
        unknown = sorted(str(k) for k in price if k not in _PRICE_KEYS)
        if unknown:
            raise InvalidInputError(path, f"has unknown keys {unknown}", "use only 'input', 'output' and 'cached'")
        for key in ("input", "output"):
            if key not in price:
                raise InvalidInputError(path, f"has no '{key}' price", example)
        entry: dict[str, float] = {}
        for key, value in price.items():
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0
            if not ok:
                raise InvalidInputError(f"{path}.{key}", f"must be a number >= 0, got {value!r:.80}", example)
            entry[str(key)] = float(value)
        checked[model.rsplit("/", 1)[-1]] = entry
    return checked


def _price_for(model: str, prices: Mapping[str, Mapping[str, float]]) -> Mapping[str, float] | None:
    bare = model.rsplit("/", 1)[-1]
    if bare in prices:
        return prices[bare]
    matches = [key for key in prices if bare.startswith(key)]
    return prices[max(matches, key=len)] if matches else None


def estimate_cost(usage: Mapping[str, Any], prices: Mapping[str, Any]) -> dict[str, Any]:
    """``{"by_model": {model: cost}, "total": cost, "unpriced_models": [...]}`` from a usage dict and a price
    map (see the module docstring), in the price map's currency (not rounded)."""
    checked = check_prices(prices) or {}
    by_model: dict[str, float] = {}
    unpriced: list[str] = []
    for model, row in (usage.get("by_model") or {}).items():
        price = _price_for(model, checked)
        if price is None:
            unpriced.append(model)
            continue
        cached = int(row.get("cached_tokens", 0))
        prompt = int(row.get("prompt_tokens", 0))
        cached_price = price.get("cached", price["input"])
        output = int(row.get("candidates_tokens", 0)) + int(row.get("thoughts_tokens", 0))
        cost = ((prompt - cached) * price["input"] + cached * cached_price + output * price["output"]) / 1e6
        by_model[model] = cost
    return {"by_model": by_model, "total": math.fsum(by_model.values()), "unpriced_models": unpriced}
