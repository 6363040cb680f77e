"""Which origins a list of allowed origins names: exactly, by a ``scheme://*.domain`` pattern
(its subdomains), or ``*`` (anyone). Origins are compared in the canonical form
:func:`feedbackwidget.config_values.origin` gives them (what browsers send)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

__all__ = ["Allowed", "allowed"]


@dataclass(frozen=True, slots=True)
class Allowed:
    """A list of allowed origins compiled: exact origins, subdomain patterns as
    ``(scheme://, .domain[:port])``, and whether ``*`` is among them."""

    exact: frozenset[str]
    patterns: tuple[tuple[str, str], ...]
    anyone: bool

    def names(self, origin: str) -> bool:
        """Whether the list names ``origin`` exactly or by a pattern (``*`` is not naming)."""
        if origin in self.exact:
            return True
        for start, end in self.patterns:
            if (
                origin.startswith(start)
                and origin.endswith(end)
                and len(origin) > len(start) + len(end)
                and "/" not in origin[len(start):]
                and "@" not in origin
            ):
                return True
        return False


@lru_cache(maxsize=64)
def allowed(origins: tuple[str, ...]) -> Allowed:
    patterns = []
    for origin in origins:
        if "://*." in origin:
            scheme, _, rest = origin.partition("://*")
            patterns.append((scheme + "://", rest))
    return Allowed(frozenset(o for o in origins if "*" not in o), tuple(patterns), "*" in origins)
