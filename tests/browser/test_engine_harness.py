"""The driver harness itself: a browser that stops answering costs one bound, never the run,
and leaves no process behind; WebKit's hanging session starts are retried.

Stand-ins play the misbehaving parts (a bridge child that never answers, a WebKitWebDriver
that never finishes New Session), so each failure happens on cue.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.engines import EngineTimeout, EngineUnavailable
from tests.browser.engines.bridge import Bridge, BridgeError
from tests.browser.engines.webkit import WebKitEngine


def live_members(group: int) -> list[int]:
    """Processes of this process group that are still running (zombies excluded)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def child(source: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(source)]


def test_a_silent_child_is_killed_at_the_bound_with_its_own_children() -> None:
    bridge = Bridge(child("""
        import subprocess, sys
        quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], **quiet)  # like a browser
        sys.stdin.read()  # and never answer
    """))
    group = bridge.proc.pid
    with pytest.raises(EngineTimeout, match=r"no answer within 0\.5 s"):
        bridge.call("goto", 0.5, url="http://127.0.0.1:9/")
    assert bridge.proc.poll() is not None
    assert live_members(group) == []


def test_a_child_that_dies_fails_the_call_at_once() -> None:
    bridge = Bridge(child("import sys; sys.stderr.write('browser crashed\\n')"))
    with pytest.raises(EngineTimeout, match=r"(exited|gone).*browser crashed"):
        bridge.call("goto", 30, url="http://127.0.0.1:9/")


def test_a_refused_request_is_an_error_and_the_bridge_goes_on() -> None:
    bridge = Bridge(child("""
        import json, sys
        for line in sys.stdin:
            request = json.loads(line)
            ok = request["op"] == "ping"
            print(json.dumps({"id": request["id"], "ok": ok, "value": "pong", "error": "no such op"}), flush=True)
    """))
    with pytest.raises(BridgeError, match="no such op"):
        bridge.call("fly", 5)
    assert bridge.call("ping", 5) == "pong"
    bridge.close(5)
    assert bridge.proc.returncode == 0


#: A WebKitWebDriver stand-in: /status says ready; the first New Session of a run never
#: answers (as WebKit's sometimes does), a later one succeeds; other commands answer null.
FAKE_DRIVER = """\
import http.server, json, sys, threading
from pathlib import Path
port = int(sys.argv[1].split("=")[1])
starts = Path(__file__).with_suffix(".starts")
hang_first = Path(__file__).with_suffix(".hang").read_text() == "first"
class Driver(http.server.BaseHTTPRequestHandler):
    def answer(self, value):
        body = json.dumps({"value": value}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.answer({"ready": True} if self.path == "/status" else None)
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/session":
            count = int(starts.read_text()) + 1 if starts.exists() else 1
            starts.write_text(str(count))
            if count == 1 or not hang_first:
                threading.Event().wait()  # the hang
            self.answer({"sessionId": "s1", "capabilities": {"browserVersion": "fake"}})
        else:
            self.answer(None)
    def do_DELETE(self):
        self.answer(None)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), Driver).serve_forever()
"""


@pytest.fixture
def fake_driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    script = tmp_path / "fake_webkitwebdriver.py"
    script.write_text(f"#!{sys.executable}\n{FAKE_DRIVER}")
    script.chmod(0o755)
    monkeypatch.setenv("FEEDBACKWIDGET_TEST_WEBKITDRIVER", str(script))
    yield script


def _engine(attempts: int) -> WebKitEngine:
    try:
        return WebKitEngine(9, start_timeout=1, attempts=attempts)
    except EngineUnavailable as e:  # Xvfb and MiniBrowser are still real
        if os.environ.get("FEEDBACKWIDGET_REQUIRE_BROWSER"):
            pytest.fail(f"WebKit is required (FEEDBACKWIDGET_REQUIRE_BROWSER) but cannot run: {e}")
        pytest.skip(str(e))


def test_a_hanging_webkit_session_start_is_killed_and_retried(fake_driver: Path) -> None:
    fake_driver.with_suffix(".hang").write_text("first")
    engine = _engine(attempts=3)
    try:
        reader = engine.reader()
        assert engine.start_retries == 1
        assert fake_driver.with_suffix(".starts").read_text() == "2"
        reader.close()
        assert live_members(reader.proc.pid) == []  # type: ignore[attr-defined]
    finally:
        engine.close()


def test_webkit_gives_up_after_its_attempts_and_leaves_nothing_running(fake_driver: Path) -> None:
    fake_driver.with_suffix(".hang").write_text("always")
    engine = _engine(attempts=2)
    try:
        with pytest.raises(EngineTimeout, match="did not start in 2 attempts"):
            engine.reader()
        assert engine.start_retries == 2
    finally:
        engine.close()
    for pid in [int(p.name) for p in Path("/proc").glob("[0-9]*")]:
        try:
            command = (Path("/proc") / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        assert str(fake_driver).encode() not in command, "a stand-in driver is still running"
