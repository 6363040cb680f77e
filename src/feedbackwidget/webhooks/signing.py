"""Signing deliveries the Standard Webhooks way, with every current secret.

Each secret (``WEBHOOK_SECRETS``, ``whsec_…``) signs ``{webhook-id}.{webhook-timestamp}.{body}``
with HMAC-SHA256 (the ``standardwebhooks`` package does the signing); the
``webhook-signature`` header carries one ``v1,…`` signature per secret, separated
by spaces. To rotate: add the new secret, let receivers accept it, then remove the
old one — a receiver that knows either secret verifies every delivery meanwhile.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from standardwebhooks.webhooks import Webhook

USER_AGENT = "feedbackwidget-webhooks/1"


class Signer:
    """Headers for one delivery attempt. Secrets are kept inside the signers, never shown."""

    def __init__(self, secrets: Sequence[str]) -> None:
        if not secrets:
            raise ValueError("at least one webhook secret is needed")
        self._hooks = [Webhook(secret) for secret in secrets]

    def __repr__(self) -> str:
        return f"Signer({len(self._hooks)} secrets)"

    def headers(self, message_id: str, payload: str, at: dt.datetime) -> dict[str, str]:
        """``webhook-id``, ``webhook-timestamp`` (``at`` in whole Unix seconds, UTC), ``webhook-signature``."""
        at = at.astimezone(dt.UTC).replace(microsecond=0)
        return {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": " ".join(hook.sign(message_id, at, payload) for hook in self._hooks),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }
