"""``client.webhooks``: the Gemini API's static webhooks (register, list, get, update, rotate the secret, ping,
delete).

Each verb is one plan (``client.plans``) of one request built and parsed in ``client.wire.webhooks``; the sync and
async resources drive the same plans. Gemini API only: on a Vertex AI client every verb raises InvalidInputError
before any request. A signing secret comes back as a ``pydantic.SecretStr`` (hidden in ``repr`` and logs).

Example::

    registered = client.webhooks.create(uri="https://airflow.example.com/genai-batch-webhooks/deliveries",
                                        subscribed_events=["batch.succeeded", "batch.failed"])
    store(registered.secret.get_secret_value())     # shown this once
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from pydantic import SecretStr

from airflow_provider_genai_batch.client.plans import Plan
from airflow_provider_genai_batch.client.resource import AsyncResource, SyncResource
from airflow_provider_genai_batch.client.settings import ClientSettings
from airflow_provider_genai_batch.client.wire import webhooks as wire
from airflow_provider_genai_batch.client.wire.webhooks import RegisteredWebhook, Webhook

__all__ = ["AsyncWebhooks", "Webhooks"]


def create_plan(
    settings: ClientSettings, uri: str, subscribed_events: Sequence[str], name: str | None
) -> Plan[RegisteredWebhook]:
    """Register a webhook; its secret is in the answer."""
    response = yield wire.build_create(settings, uri=uri, subscribed_events=subscribed_events, name=name)
    return wire.parse_registered(response.json())


def list_plan(
    settings: ClientSettings, page_size: int | None, page_token: str | None
) -> Plan[tuple[list[Webhook], str | None]]:
    """One page of webhooks."""
    response = yield wire.build_list(settings, page_size, page_token)
    return wire.parse_list(response.json())


def get_plan(settings: ClientSettings, id_: str) -> Plan[Webhook]:
    """One webhook."""
    response = yield wire.build_get(settings, id_)
    return wire.parse_webhook(response.json())


def update_plan(settings: ClientSettings, id_: str, fields: dict[str, Any]) -> Plan[Webhook]:
    """Change some fields of a webhook; the webhook as it now is."""
    response = yield wire.build_update(settings, id_, **fields)
    return wire.parse_webhook(response.json())


def rotate_plan(settings: ClientSettings, id_: str, revocation_behavior: str | None) -> Plan[SecretStr]:
    """A new signing secret (the old one stays valid 24 h unless revoked at once)."""
    response = yield wire.build_rotate(settings, id_, revocation_behavior)
    return wire.parse_rotated(response.json())


def ping_plan(settings: ClientSettings, id_: str) -> Plan[None]:
    """Ask for a signed test delivery."""
    yield wire.build_ping(settings, id_)


def delete_plan(settings: ClientSettings, id_: str) -> Plan[None]:
    """Delete a webhook."""
    yield wire.build_delete(settings, id_)


class Webhooks(SyncResource):
    """Static webhooks of the sync client (google-genai's ``client.webhooks``)."""

    def create(
        self, *, uri: str, subscribed_events: Sequence[str] = wire.BATCH_EVENTS, name: str | None = None
    ) -> RegisteredWebhook:
        """Register a webhook that Google signs with a secret of its own (returned this once)."""
        registered: RegisteredWebhook = self._run(create_plan(self.settings, uri, subscribed_events, name))
        return registered

    def list(self, *, page_size: int | None = None) -> Iterator[Webhook]:
        """Every webhook of the project, page after page."""
        token: str | None = None
        while True:
            webhooks, token = self._run(list_plan(self.settings, page_size, token))
            yield from webhooks
            if not token:
                return

    def get(self, *, id: str) -> Webhook:
        """One webhook."""
        webhook: Webhook = self._run(get_plan(self.settings, id))
        return webhook

    def update(
        self,
        *,
        id: str,
        uri: str | None = None,
        subscribed_events: Sequence[str] | None = None,
        name: str | None = None,
        state: str | None = None,
    ) -> Webhook:
        """Change the fields given (``state``: ``enabled`` or ``disabled``); the webhook as it now is."""
        fields = {"uri": uri, "subscribed_events": subscribed_events, "name": name, "state": state}
        webhook: Webhook = self._run(update_plan(self.settings, id, fields))
        return webhook

    def rotate_signing_secret(self, *, id: str, revocation_behavior: str | None = None) -> SecretStr:
        """A new signing secret for the webhook (returned this once)."""
        secret: SecretStr = self._run(rotate_plan(self.settings, id, revocation_behavior))
        return secret

    def ping(self, *, id: str) -> None:
        """Ask Google to send a signed test delivery to the webhook's URL."""
        self._run(ping_plan(self.settings, id))

    def delete(self, *, id: str) -> None:
        """Delete a webhook: Google stops delivering to it."""
        self._run(delete_plan(self.settings, id))


class AsyncWebhooks(AsyncResource):
    """Static webhooks of the async client."""

    async def create(
        self, *, uri: str, subscribed_events: Sequence[str] = wire.BATCH_EVENTS, name: str | None = None
    ) -> RegisteredWebhook:
        """Register a webhook (its secret is returned this once)."""
        registered: RegisteredWebhook = await self._run(create_plan(self.settings, uri, subscribed_events, name))
        return registered

    async def list(self, *, page_size: int | None = None) -> AsyncIterator[Webhook]:
        """Every webhook of the project."""
        token: str | None = None
        while True:
            webhooks, token = await self._run(list_plan(self.settings, page_size, token))
            for webhook in webhooks:
                yield webhook
            if not token:
                return

    async def get(self, *, id: str) -> Webhook:
        """One webhook."""
        webhook: Webhook = await self._run(get_plan(self.settings, id))
        return webhook

    async def update(
        self,
        *,
        id: str,
        uri: str | None = None,
        subscribed_events: Sequence[str] | None = None,
        name: str | None = None,
        state: str | None = None,
    ) -> Webhook:
        """Change the fields given; the webhook as it now is."""
        fields = {"uri": uri, "subscribed_events": subscribed_events, "name": name, "state": state}
        webhook: Webhook = await self._run(update_plan(self.settings, id, fields))
        return webhook

    async def rotate_signing_secret(self, *, id: str, revocation_behavior: str | None = None) -> SecretStr:
        """A new signing secret (returned this once)."""
        secret: SecretStr = await self._run(rotate_plan(self.settings, id, revocation_behavior))
        return secret

    async def ping(self, *, id: str) -> None:
        """Ask for a signed test delivery."""
        await self._run(ping_plan(self.settings, id))

    async def delete(self, *, id: str) -> None:
        """Delete a webhook."""
        await self._run(delete_plan(self.settings, id))
