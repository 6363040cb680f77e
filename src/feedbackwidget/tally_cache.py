"""Anonymous tallies, ready to send, for at most a second.

Most page views ask for the same few articles' tallies; answering them from
memory for up to :data:`TALLY_TTL` seconds keeps the read path near a bare
endpoint's speed. The service drops an article's entries whenever it changes
that article here, so a server's own change is visible at once; other servers
of the site see it within the TTL.
"""

from __future__ import annotations

import time
from typing import Any

from .metrics import OFF, Metrics

#: How stale an anonymous tally may be, in seconds (the servers of one site may each hold one).
TALLY_TTL = 1.0
#: Entries per event loop at most (about 1 KiB each with a language bundle); emptied when full.
TALLY_CACHE_SIZE = 20_000


class TallyCache:
    """Ready answers keyed by (article, language); values are opaque to the cache."""

    def __init__(self, ttl: float = TALLY_TTL, size: int = TALLY_CACHE_SIZE, *, metrics: Metrics = OFF) -> None:
        self.ttl, self.size = ttl, size
        self._metrics = metrics
        self._entries: dict[str, dict[str | None, tuple[float, Any]]] = {}
        self._count = 0
        #: Bumped on every local change of a tally; a read that overlapped one is not kept.
        self.changes = 0

    def get(self, article_id: str, lang: str | None) -> Any:
        """The answer at most ``ttl`` seconds old, or None (each call is a hit or a miss in the metrics)."""
        entries = self._entries.get(article_id)
        entry = None if entries is None else entries.get(lang)
        if entry is None or entry[0] <= time.monotonic():
            self._metrics.tally_cache(False)
            return None
        self._metrics.tally_cache(True)
        return entry[1]

    def put(self, article_id: str, lang: str | None, value: Any, changes: int) -> None:
        """Keep an answer, unless a local change happened since its read began (``changes`` is
        the value of :attr:`changes` before the read)."""
        if changes != self.changes:
            return
        if self._count >= self.size:
            self._entries.clear()
            self._count = 0
        entries = self._entries.setdefault(article_id, {})
        if lang not in entries:
            self._count += 1
        entries[lang] = (time.monotonic() + self.ttl, value)

    def forget(self, *article_ids: str) -> None:
        """Drop the answers of articles that just changed."""
        self.changes += 1
        for article_id in article_ids:
            entries = self._entries.pop(article_id, None)
            if entries is not None:
                self._count -= len(entries)
