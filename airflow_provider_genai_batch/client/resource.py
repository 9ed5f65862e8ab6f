"""What every resource of the sync and async clients shares: settings, a transport, how a plan runs, and a repr
that shows no secret.

Example::

    class Batches(SyncResource):
        def get(self, *, name: str) -> BatchJob:
            return self._run(get_job(self.settings, name))
"""

from __future__ import annotations

from typing import Any

from airflow_provider_genai_batch.client.plans import Plan, run_async, run_sync
from airflow_provider_genai_batch.client.redaction import redact_url
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.transport import AsyncTransport, SyncTransport

__all__ = ["AsyncResource", "Resource", "SyncResource"]


class Resource:
    """Holds the client's settings; its repr names the backend and the base URL without userinfo."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        base_url = redact_url(self.settings.effective_base_url)  # settings copied without validation may hold one
        return f"{type(self).__name__}(backend={self.settings.backend!r}, base_url={base_url!r})"


class SyncResource(Resource):
    """A resource of the sync client: its plans run over the blocking transport."""

    def __init__(self, settings: ClientSettings, transport: SyncTransport) -> None:
        super().__init__(settings)
        self._transport = transport

    def _run(self, plan: Plan[Any]) -> Any:
        return run_sync(plan, self._transport.send)


class AsyncResource(Resource):
    """A resource of the async client: its plans run over the async transport (``offload``: file reads in a
    worker thread)."""

    def __init__(self, settings: ClientSettings, transport: AsyncTransport) -> None:
        super().__init__(settings)
        self._transport = transport

    async def _run(self, plan: Plan[Any], *, offload: bool = False) -> Any:
        return await run_async(plan, self._transport.send, offload=offload)
