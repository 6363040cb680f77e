"""Three browser engines behind one small driver interface (see base.py)."""

from .base import COOKIE_MODES, ENGINES, ConsoleEntry, Cookie, Engine, EngineTimeout, EngineUnavailable, Reader

__all__ = [
    "COOKIE_MODES",
    "ENGINES",
    "ConsoleEntry",
    "Cookie",
    "Engine",
    "EngineTimeout",
    "EngineUnavailable",
    "Reader",
]
