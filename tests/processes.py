"""Real ``feedbackwidget`` server processes for tests, optionally under a shifted clock.

A clock shift runs the server under Debian's ``faketime`` (libfaketime): the
process and its children see wall-clock time moved by whole seconds, as a
server whose NTP has drifted would. ``faketime`` forks, so a server is started
in its own process group and stopped by signalling the group.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .helpers import EXPORT_TOKEN, SECRET, free_port

REQUIRE_TOOLS = os.environ.get("FEEDBACKWIDGET_REQUIRE_POSTGRES") == "1"


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("feedbackwidget")
    return [str(script)] if script.exists() else [sys.executable, "-m", "feedbackwidget.cli"]


def faketime_or_skip() -> str:
    path = shutil.which("faketime")
    if path is None:
        if REQUIRE_TOOLS:
            pytest.fail("faketime is required (Debian package faketime; .ci/run installs it)")
        pytest.skip("faketime is not installed (Debian package faketime)")
    return path


class ServeProcess:
    """One ``feedbackwidget serve`` on a loopback port; ``clock_offset`` seconds off the real clock."""

    def __init__(
        self,
        env: dict[str, str],
        log: Path,
        *,
        clock_offset: int = 0,
        args: tuple[str, ...] = (),
        argv: list[str] | None = None,
        health: str = "/healthz",
    ) -> None:
        """``argv`` replaces ``feedbackwidget serve`` (``{port}`` in it is the port), e.g. a host
        app under uvicorn; ``health`` is the path polled until the server is ready."""
        self.env = dict(env)
        self.port = free_port()
        self.log = log
        self.clock_offset = clock_offset
        self.args = args
        self.argv = argv
        self.health = health
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        if self.argv is not None:
            serve = [part.replace("{port}", str(self.port)) for part in self.argv]
        else:
            serve = [*cli_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port), *self.args]
        if not self.clock_offset:
            return serve
        # Whole seconds only: fractional offsets broke time.sleep in Python under libfaketime.
        return [faketime_or_skip(), "-f", f"{self.clock_offset:+d}s", *serve]

    def start(self) -> ServeProcess:
        env = {**self.env, "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command(), env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Signal the whole process group and wait; returns the exit status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(15)
        return self.process.returncode

    def wait_ready(self, limit: float = 30.0) -> None:
        """Poll /healthz until it answers 200 (a condition, not a fixed sleep)."""
        deadline = time.monotonic() + limit
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"server exited: {self.output()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + self.health, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"server not ready: {self.output()[-2000:]}")
            time.sleep(0.05)  # polling interval of the condition above

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> ServeProcess:
        self.start()
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_env(verify_env: dict[str, str], database: str, **settings: str) -> dict[str, str]:
    """The environment of a ``serve`` process: ``verify_env`` (``FakeHCaptcha.env()``), the
    store at ``database``, the test secret and export token, and more settings by lower-case
    name (``metrics_token="…"`` is ``FEEDBACKWIDGET_METRICS_TOKEN``)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        **verify_env,
        "FEEDBACKWIDGET_DATABASE_URL": database,
        "FEEDBACKWIDGET_SECRET_KEY": SECRET,
        "FEEDBACKWIDGET_EXPORT_TOKEN": EXPORT_TOKEN,
        **{"FEEDBACKWIDGET_" + name.upper(): value for name, value in settings.items()},
    }
