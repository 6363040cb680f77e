"""Signed webhooks: alerts editors can act on (see docs/webhooks.md).

``events.py`` decides which events a change causes and builds their bodies; the store
writes them to its outbox in the same transaction as the change; ``worker.py`` claims,
signs (``signing.py``) and delivers them to receivers that ``guard.py`` allows.
"""

from __future__ import annotations

from .events import TYPES, Rules
from .signing import Signer
from .worker import Worker

__all__ = ["TYPES", "Rules", "Signer", "Worker"]
