"""``GenAIBatchWebhooksOperator``: register, list, get, update, rotate, ping and delete static Gemini webhooks.

A static webhook's signing secret is returned once, by the create or the rotation. The operator never puts it in
XCom, in its return value or in a log line (it is masked the moment it arrives): it writes it into the Variable the
webhook receiver reads (``webhooks.secrets``: ``genai_batch_webhook_signing_secrets``, masked by Airflow because
its key says "secret"). A task cannot write a connection in Airflow 3, hence a Variable; see docs/WEBHOOKS.md.
A register or rotation whose secret could not be stored fails the task, naming the webhook, so it can be rotated
again once the Variable is writable.

Example::

    GenAIBatchWebhooksOperator(task_id="register", action="register",
                               uri="https://airflow.example.com/genai-batch-webhooks/deliveries")
    GenAIBatchWebhooksOperator(task_id="rotate", action="rotate", webhook_id="{{ params.webhook_id }}")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_genai_batch.operators._base import DEFAULT_CONN_ID, GenAIBatchBaseOperator
from airflow_provider_genai_batch.operators._inputs import OperatorInputError

if TYPE_CHECKING:
    from airflow.sdk import Context
    from pydantic import SecretStr

__all__ = ["ACTIONS", "GenAIBatchWebhooksOperator"]

ACTIONS = ("register", "list", "get", "update", "rotate", "ping", "delete")
_NEEDS_ID = ("get", "update", "rotate", "ping", "delete")
_STATES = ("enabled", "disabled")
_DEFAULT_EVENTS = ("batch.succeeded", "batch.failed", "batch.expired")
_REVOCATIONS = ("revoke_previous_secrets_after_h24", "revoke_previous_secrets_immediately")


class GenAIBatchWebhooksOperator(GenAIBatchBaseOperator):
    """Maintain the project's static webhooks (Gemini API); returns a small JSON-able value, never a secret.

    :param action: ``register``, ``list``, ``get``, ``update``, ``rotate``, ``ping`` or ``delete``.
    :param uri: register: the receiver's public URL, ``https://<api-server>/genai-batch-webhooks/deliveries``;
        update: a new URL.
    :param subscribed_events: register: the events to deliver (default the three batch events); update: new ones.
    :param name: register: a name for the webhook; update: a new name.
    :param state: update: ``enabled`` or ``disabled`` (Google stops delivering to a disabled webhook).
    :param webhook_id: get, update, rotate, ping, delete: the webhook's id (templated).
    :param revocation_behavior: rotate: ``revoke_previous_secrets_after_h24`` (default: deliveries signed with
        the old secret still verify for a day) or ``revoke_previous_secrets_immediately``.
    :param max_webhooks: list: the most webhooks returned.
    """

    template_fields: Sequence[str] = ("uri", "webhook_id", "name", "genai_batch_conn_id")

    def __init__(
        self,
        *,
        action: str,
        uri: str | None = None,
        subscribed_events: Sequence[str] | None = None,
        name: str | None = None,
        state: str | None = None,
        webhook_id: str | None = None,
        revocation_behavior: str = "revoke_previous_secrets_after_h24",
        max_webhooks: int = 100,
        genai_batch_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(genai_batch_conn_id=genai_batch_conn_id, **kwargs)
        if action not in ACTIONS:
            raise OperatorInputError("action", f"{action!r} is not an action", f"use one of {list(ACTIONS)}")
        if action == "register" and not uri:
            raise OperatorInputError("uri", "is required to register", "pass the receiver's public https URL")
        if action in _NEEDS_ID and not webhook_id:
            raise OperatorInputError("webhook_id", f"is required to {action}", "pass the id register or list gave")
        if action == "update" and uri is None and subscribed_events is None and name is None and state is None:
            raise OperatorInputError(
                "update", "no field to change", "pass at least one of uri, subscribed_events, name, state"
            )
        if state is not None and state not in _STATES:
            raise OperatorInputError("state", f"{state!r} is not a state you can set", f"use one of {list(_STATES)}")
        if revocation_behavior not in _REVOCATIONS:
            raise OperatorInputError(
                "revocation_behavior", f"{revocation_behavior!r} is not known", f"use one of {list(_REVOCATIONS)}"
            )
        if isinstance(max_webhooks, bool) or not isinstance(max_webhooks, int) or max_webhooks < 1:
            raise OperatorInputError("max_webhooks", f"must be an integer >= 1, got {max_webhooks!r}", "e.g. 100")
        self.action = action
        self.uri = uri
        self.subscribed_events = None if subscribed_events is None else list(subscribed_events)
        self.name = name
        self.state = state
        self.webhook_id = webhook_id
        self.revocation_behavior = revocation_behavior
        self.max_webhooks = max_webhooks

    def execute(self, context: Context) -> Any:
        """Do the action; the result is JSON-able and holds no secret."""
        webhooks = self.hook.get_conn().webhooks
        if self.action == "register":
            events = self.subscribed_events if self.subscribed_events is not None else list(_DEFAULT_EVENTS)
            registered = webhooks.create(uri=str(self.uri), subscribed_events=events, name=self.name)
            where = self._store(registered.webhook.id, registered.secret, keep_previous=False)
            self.log.info("Registered webhook %s; its signing secret is in %s", registered.webhook.id, where)
            return {**registered.webhook.to_dict(), "signing_secret_stored_in": where}
        if self.action == "list":
            found = []
            for webhook in webhooks.list():
                found.append(webhook.to_dict())
                if len(found) >= self.max_webhooks:
                    break
            self.log.info("Listed %d webhooks", len(found))
            return found
        webhook_id = str(self.webhook_id)
        if self.action == "get":
            return webhooks.get(id=webhook_id).to_dict()
        if self.action == "update":
            updated = webhooks.update(
                id=webhook_id, uri=self.uri, subscribed_events=self.subscribed_events, name=self.name, state=self.state
            )
            self.log.info("Updated webhook %s", webhook_id)
            return updated.to_dict()
        if self.action == "rotate":
            secret = webhooks.rotate_signing_secret(id=webhook_id, revocation_behavior=self.revocation_behavior)
            keep = self.revocation_behavior == "revoke_previous_secrets_after_h24"
            where = self._store(webhook_id, secret, keep_previous=keep)
            self.log.info("Rotated the signing secret of webhook %s; the new one is in %s", webhook_id, where)
            return {
                "id": webhook_id,
                "rotated": True,
                "revocation_behavior": self.revocation_behavior,
                "signing_secret_stored_in": where,
            }
        if self.action == "ping":
            webhooks.ping(id=webhook_id)
            return {"id": webhook_id, "pinged": True}
        webhooks.delete(id=webhook_id)
        self._forget(webhook_id)
        self.log.info("Deleted webhook %s", webhook_id)
        return {"id": webhook_id, "deleted": True}

    def _store(self, webhook_id: str, secret: SecretStr, *, keep_previous: bool) -> str:
        """Write the secret where the receiver reads it; returns where (a name, never the value)."""
        from airflow.sdk import Variable
        from airflow.sdk.log import mask_secret

        from airflow_provider_genai_batch.webhooks.secrets import VARIABLE_KEY, updated_secrets

        value = secret.get_secret_value()
        mask_secret(value)
        try:
            current = Variable.get(VARIABLE_KEY, default=None)
            Variable.set(VARIABLE_KEY, updated_secrets(current, webhook_id, value, keep_previous=keep_previous))
        except Exception as exc:
            raise RuntimeError(
                f"webhook {webhook_id}: its new signing secret could not be stored in the Variable {VARIABLE_KEY} "
                f"({type(exc).__name__}); the receiver cannot verify its deliveries: make the Variable writable, "
                f"then run action='rotate' for this webhook"
            ) from None
        return f"variable:{VARIABLE_KEY}"

    def _forget(self, webhook_id: str) -> None:
        from airflow.sdk import Variable

        from airflow_provider_genai_batch.webhooks.secrets import VARIABLE_KEY, removed_webhook

        current = Variable.get(VARIABLE_KEY, default=None)
        if current:
            Variable.set(VARIABLE_KEY, removed_webhook(current, webhook_id))
