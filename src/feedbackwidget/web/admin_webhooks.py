"""Dashboard context for webhook deliveries: how many wait, arrived or gave up, and the latest
attempts with their last error — so an editor sees at once when alerts stop reaching the newsroom.

Receivers' URLs may carry a secret in their path (Slack's do), so only scheme and host are shown.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from ..config import Settings
from ..store.base import Store

SHOWN = 50


def when(at: dt.datetime | None) -> str:
    """A delivery time to the second, UTC ("" for none)."""
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if at else ""


def endpoint_label(url: str) -> str:
    """``scheme://host[:port]`` of a receiver: never its path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def webhooks_context(store: Store, settings: Settings, limit: int = SHOWN) -> dict[str, Any]:
    """``{"enabled", "pending", "delivered", "failed", "rows": [...]}`` (rows newest first)."""
    if not settings.webhook_urls:
        return {"enabled": False}
    status = await store.outbox_status(limit)
    rows = [
        {
            "id": r.id,
            "message_id": r.message_id,
            "type": r.type,
            "endpoint": endpoint_label(r.endpoint),
            "state": r.state,
            "attempts": r.attempts,
            "created": when(r.created_at),
            "next": when(r.next_at),
            "delivered": when(r.delivered_at),
            "status": r.last_status if r.last_status is not None else "",
            "error": r.last_error or "",
        }
        for r in status.recent
    ]
    return {
        "enabled": True,
        "pending": status.pending,
        "delivered": status.delivered,
        "failed": status.failed,
        "receivers": [endpoint_label(u) for u in settings.webhook_urls],
        "rows": rows,
    }
