"""A child process spoken to in JSON lines, with every answer awaited for a bounded time.

Used for the Node process that drives Firefox (puppeteer-core has no Python binding). The
child runs in its own session; when an answer does not come in time, or the child dies, the
whole process group is killed (and any other group the caller registered, such as a browser
the child started detached) and EngineTimeout is raised, so a stuck browser costs one bound,
never the run.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from typing import Any

from .base import EngineTimeout


class BridgeError(RuntimeError):
    """The child answered that the request failed; the message is its error text."""


class Bridge:
    def __init__(self, argv: list[str], *, cwd: str | None = None) -> None:
        self.proc = subprocess.Popen(
            argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, text=True, encoding="utf-8",
        )
        self.groups: list[int] = [self.proc.pid]
        self._answers: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)
        self._next = 0
        self._readers = [
            threading.Thread(target=self._read_answers, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._readers:
            thread.start()

    def _read_answers(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                self._answers.put(json.loads(line))
            except ValueError:
                self._stderr.append(line.rstrip())  # a stray print on stdout: keep it for errors
        self._answers.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line.rstrip())

    def call(self, op: str, bound: float, **params: Any) -> Any:
        """Send one request and return its ``value`` within ``bound`` seconds; raises
        BridgeError (the request failed) or EngineTimeout (no answer: everything killed)."""
        self._next += 1
        ident = self._next
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"id": ident, "op": op, **params}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.kill()
            raise EngineTimeout(f"{op}: the bridge is gone ({self.stderr()})") from None
        deadline = time.monotonic() + bound
        while True:
            try:
                answer = self._answers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise EngineTimeout(f"{op}: no answer within {bound:g} s; browser stopped ({self.stderr()})") from None
            if answer is None:
                self.kill()
                raise EngineTimeout(f"{op}: the bridge exited ({self.stderr()})")
            if answer.get("id") != ident:
                continue  # the late answer to a request that already failed
            if not answer.get("ok"):
                raise BridgeError(f"{op}: {answer.get('error')}")
            return answer.get("value")

    def stderr(self) -> str:
        return " | ".join(self._stderr)[-2000:] or "no output"

    def close(self, timeout: float) -> None:
        """Ask the child to finish (stdin closed) and wait; kill everything if it does not."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout)
        self.kill()

    def kill(self) -> None:
        for group in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        for thread in self._readers:  # both end at end of file, now that nothing can write
            thread.join(5)
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):  # a broken pipe has nothing left to flush
                    pipe.close()
