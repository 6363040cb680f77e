"""Throughput of the widget's hot paths, side by side with a bare Starlette endpoint.

    python benchmarks/run.py [--duration 10] [--connections 64] [--slow-connections 256]
        [--rounds 3] [--only bare,article,...] [--export] [--export-rows 1000000] [--metrics]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres | --no-postgres]

One command, one run: it starts every server as its own process on 127.0.0.1
(the bare endpoint with ``benchmarks/bare.py``, the widget with ``feedbackwidget
serve``, each with the same uvicorn options, one worker, uvloop + httptools),
the loopback siteverify stand-in (``feedbackwidget.fakecaptcha``) as separate
processes answering at once and after 50 ms, loads each path with ``wrk`` for a
bounded time, and prints requests/s, the ratio to the bare endpoint, p99 and the
targets of issue 6 (with ``--metrics``, the vote and read paths also on a second server that
records Prometheus metrics, each run right after the same path without, and the ratio of the
two), plus the CPU the load generator, the server, the stand-in and everything else on the
machine took meanwhile (from ``/proc``). Results go to ``benchmarks/results/`` as JSON.
With ``--rounds N`` every scenario runs N times, interleaved, and the table shows medians.

Not a test: nothing here asserts; the numbers are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import math
import os
import platform
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from export_bench import PATHS  # a sibling script: python puts benchmarks/ on the path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
ORIGIN = "https://news.example"
ARTICLES = 1000
SLOW_LATENCY = 0.05
CLK_TCK = os.sysconf("SC_CLK_TCK")
PYTHON = sys.executable


# -- processes ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU seconds of one process (or of one of its threads) so far (0.0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def machine_busy() -> float:
    """CPU seconds spent busy by the whole machine so far (all cores)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLK_TCK


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    ready_path: str | None = "/"
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def start(self, logs: Path) -> None:
        self.log = logs / f"{self.name}.log"
        out = open(self.log, "wb")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            self.argv, env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT, cwd=HERE.parent
        )
        out.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        assert self.proc is not None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_tail()}")
            try:
                if self.ready_path is None:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        return
                else:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=2):
                        return
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start within {timeout}s: {self.log_tail()}")

    def log_tail(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")[-2000:]

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def fake_captcha(name: str, latency: float) -> Service:
    port = free_port()
    argv = [PYTHON, "-m", "feedbackwidget.fakecaptcha", "--port", str(port), "--latency", str(latency)]
    return Service(name, argv, {}, port, ready_path=None)


def widget_server(name: str, database_url: str, captcha: Service, **settings: str) -> Service:
    port = free_port()
    env = {
        "FEEDBACKWIDGET_DATABASE_URL": database_url,
        "FEEDBACKWIDGET_SECRET_KEY": "bench-" + secrets.token_hex(16),
        "FEEDBACKWIDGET_HCAPTCHA_SITEKEY": "fake-sitekey-0000",
        "FEEDBACKWIDGET_HCAPTCHA_SECRET": "fake-secret-0000",
        "FEEDBACKWIDGET_HCAPTCHA_VERIFY_URL": f"http://127.0.0.1:{captcha.port}/siteverify",
        "FEEDBACKWIDGET_HCAPTCHA_JS_URL": f"http://127.0.0.1:{captcha.port}/1/api.js",
        "FEEDBACKWIDGET_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "FEEDBACKWIDGET_ALLOWED_ORIGINS": ORIGIN,
        "FEEDBACKWIDGET_RATE_LIMIT": "1000000000/second",  # the limiter still runs on every vote
        "FEEDBACKWIDGET_TRUSTED_PROXIES": "127.0.0.1",  # wrk plays a proxy for many readers
        **{"FEEDBACKWIDGET_" + key.upper(): value for key, value in settings.items()},
    }
    argv = [PYTHON, "-m", "feedbackwidget.cli", "serve", "--port", str(port), "--log-level", "warning"]
    return Service(name, argv, env, port, ready_path="/healthz")


# -- scenarios ------------------------------------------------------------------------


@dataclass
class Scenario:
    key: str
    label: str
    service: str  # which Service it loads
    path: str
    script: str  # Lua script in benchmarks/
    args: Callable[[str], list[str]] = lambda tag: []
    headers: dict[str, str] = field(default_factory=dict)
    connections: int | None = None  # None: --connections
    expect: int = 200
    standin: str | None = None  # the siteverify stand-in this scenario calls
    target_ratio: float | None = None  # to bare (or to the ceiling when ceiling is set)
    ceiling: float | None = None  # an absolute req/s the ratio is taken to instead of bare
    p99_target_ms: float | None = None
    check: Callable[[Scenario, Service], None] | None = None


def scenarios(slow_connections: int, widget_etag: str) -> list[Scenario]:
    vote_args: Callable[[str], list[str]] = lambda tag: [tag, str(ARTICLES), ORIGIN]  # noqa: E731
    return [
        Scenario("bare", "bare Starlette, 1 KiB", "bare", "/", "report.lua"),
        Scenario(
            "article", "GET /api/v1/articles/{id} anonymous", "sqlite", "/api/v1/articles/bench-0", "articles.lua",
            args=lambda tag: [str(ARTICLES), ORIGIN], target_ratio=0.60, p99_target_ms=10,
        ),
        Scenario(
            "widget304", "GET /widget.js, If-None-Match → 304", "sqlite", "/widget.js", "report.lua",
            headers={"Accept-Encoding": "gzip, deflate, br", "If-None-Match": widget_etag},
            expect=304, target_ratio=0.90, p99_target_ms=10,
        ),
        Scenario(
            "widget200", "GET /widget.js, 200 gzip", "sqlite", "/widget.js", "report.lua",
            headers={"Accept-Encoding": "gzip, deflate, br"}, target_ratio=0.90, p99_target_ms=10,
        ),
        Scenario(
            "vote", "vote POST, SQLite, siteverify at once", "sqlite", "/api/v1/votes", "vote.lua",
            args=vote_args, standin="captcha0", target_ratio=0.15, p99_target_ms=50,
        ),
        Scenario(
            "vote_slow", f"vote POST, siteverify 50 ms, {slow_connections} conns", "sqlite_slow", "/api/v1/votes",
            "vote.lua", args=vote_args, connections=slow_connections, standin="captcha50",
            target_ratio=0.70, ceiling=slow_connections / SLOW_LATENCY,
        ),
        Scenario(
            "vote_pg", "vote POST, PostgreSQL, siteverify at once", "postgres", "/api/v1/votes", "vote.lua",
            args=vote_args, standin="captcha0", target_ratio=0.10, p99_target_ms=50,
        ),
        # --metrics: the same paths on a server that records metrics (METRICS_TOKEN set), same store
        Scenario(
            "article_m", "GET /api/v1/articles/{id}, metrics on", "sqlite_metrics", "/api/v1/articles/bench-0",
            "articles.lua", args=lambda tag: [str(ARTICLES), ORIGIN],
        ),
        Scenario(
            "vote_m", "vote POST, SQLite, metrics on", "sqlite_metrics", "/api/v1/votes", "vote.lua",
            args=vote_args, standin="captcha0",
        ),
    ]


#: With --metrics: each path recording metrics, and the same path without, in the same run.
METRICS_PAIRS = (("article_m", "article"), ("vote_m", "vote"))


def metrics_overhead(summary: dict[str, dict[str, Any]]) -> str:
    """Each path with metrics against the same path without, same run: req/s and CPU per request."""
    lines = []
    for on, off in METRICS_PAIRS:
        if on in summary and off in summary:
            rps = summary[on]["rps"] / summary[off]["rps"]
            cpu = summary[on]["server_cpu_us"] / summary[off]["server_cpu_us"]
            summary[on]["metrics_ratio"] = {"rps": rps, "server_cpu_us": cpu}
            lines.append(f"metrics on/off, {off:<8} req/s ratio {rps:.3f}   server µs/req ratio {cpu:.3f}")
    return "\n".join(lines)


def probe(scenario: Scenario, service: Service) -> None:
    """One request by hand before loading: the scenario must answer what it should."""
    url = f"http://127.0.0.1:{service.port}{scenario.path}"
    headers = {"Origin": ORIGIN, **scenario.headers}
    data = None
    if scenario.script == "vote.lua":
        data = json.dumps(
            {"article_id": "bench-probe", "vote": "up", "captcha_token": "PASS-probe-" + secrets.token_hex(8)}
        ).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status = answer.status
    except urllib.error.HTTPError as error:
        status = error.code
    if status != scenario.expect:
        raise RuntimeError(f"{scenario.key}: expected HTTP {scenario.expect}, got {status}")


def widget_etag(service: Service) -> str:
    request = urllib.request.Request(
        f"http://127.0.0.1:{service.port}/widget.js", headers={"Accept-Encoding": "gzip, deflate, br"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        etag: str = answer.headers["ETag"]
    return etag


def run_wrk(
    scenario: Scenario, service: Service, standin: Service | None, duration: float, connections: int, tag: str
) -> dict[str, Any]:
    argv = [
        "wrk", "-t2", f"-c{connections}", f"-d{duration:g}s", "--timeout", "5s",
        "-s", str(HERE / scenario.script),
    ]
    for name, value in scenario.headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv += [f"http://127.0.0.1:{service.port}{scenario.path}", "--", *scenario.args(tag)]
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = (machine_busy(), cpu_seconds(service.pid), cpu_seconds(standin.pid) if standin else 0.0)
    loop_before = cpu_seconds(service.pid, service.pid)  # the main thread: the event loop
    started = time.monotonic()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=duration + 60)
    wall = time.monotonic() - started
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = (machine_busy(), cpu_seconds(service.pid), cpu_seconds(standin.pid) if standin else 0.0)
    loop = cpu_seconds(service.pid, service.pid) - loop_before
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-1500:]} {done.stderr[-1500:]}")
    result: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    seconds = result["duration_us"] / 1e6
    wrk_cpu = (after_children.ru_utime + after_children.ru_stime) - (
        before_children.ru_utime + before_children.ru_stime
    )
    machine, server, stand = (a - b for a, b in zip(after, before, strict=True))
    result.update(
        rps=result["requests"] / seconds,
        p99_ms=result["p99_us"] / 1000,
        p50_ms=result["p50_us"] / 1000,
        errors_total=sum(result["errors"].values()),
        # CPU as cores busy on average over the run (the machine has os.cpu_count() of them)
        cpu={
            "wrk": wrk_cpu / wall,
            "server": server / wall,
            "standin": stand / wall,
            "machine": machine / wall,
            "others": max(machine - wrk_cpu - server - stand, 0.0) / wall,
        },
        connections=connections,
    )
    # The server's own CPU per request: far steadier than req/s when other work shares the cores.
    result["server_cpu_us"] = server / result["requests"] * 1e6 if result["requests"] else None
    # ... and the event loop thread's share of it: one worker can never use more than one core of this.
    result["loop_cpu_us"] = loop / result["requests"] * 1e6 if result["requests"] else None
    return result


# -- PostgreSQL scratch database --------------------------------------------------------


async def _pg(admin_url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def scratch_database(admin_url: str) -> tuple[str, str]:
    """Create an empty database next to ``admin_url``'s; returns (its URL, its name)."""
    from urllib.parse import urlsplit, urlunsplit

    name = f"fw_bench_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_pg(admin_url, f'CREATE DATABASE "{name}"'))
    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path="/" + name)), name


def drop_database(admin_url: str, name: str) -> None:
    asyncio.run(_pg(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def postgres_available() -> bool:
    try:
        import feedbackwidget.store.postgres  # noqa: F401
    except ImportError:
        return False
    return True


# -- seeding --------------------------------------------------------------------------


async def _seed(database_url: str, votes: int) -> None:
    """Votes on the articles the read benchmark asks for, through the store API."""
    from feedbackwidget.store import open_store
    from feedbackwidget.types import Cast, Vote

    store = open_store(database_url)
    await store.open()
    try:
        now = dt.datetime.now(dt.UTC)
        sem = asyncio.Semaphore(64)

        async def one(n: int) -> None:
            async with sem:
                vote: Vote = "down" if n % 3 == 0 else "up"
                await store.cast(Cast(f"bench-{n % ARTICLES}", f"seed-{n:032d}"[-32:], vote, now, title=f"Article {n}"))

        await asyncio.gather(*(one(n) for n in range(votes)))
    finally:
        await store.close()


# -- reporting ------------------------------------------------------------------------


def summarise(key: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    def med(pick: Callable[[dict[str, Any]], float]) -> float:
        return statistics.median(pick(r) for r in runs)

    rps = [r["rps"] for r in runs]
    return {
        "rps": statistics.median(rps),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "p99_ms": med(lambda r: r["p99_ms"]),
        "p50_ms": med(lambda r: r["p50_ms"]),
        "errors": sum(r["errors_total"] for r in runs),
        "non_2xx_3xx": sum(r["errors"]["status"] for r in runs),
        "cpu": {k: statistics.median(r["cpu"][k] for r in runs) for k in runs[0]["cpu"]},
        "server_cpu_us": statistics.median(r["server_cpu_us"] or math.inf for r in runs),
        "loop_cpu_us": statistics.median(r.get("loop_cpu_us") or math.inf for r in runs),
        "rounds": len(runs),
    }


def table(summary: dict[str, dict[str, Any]], specs: dict[str, Scenario]) -> str:
    bare = summary.get("bare", {}).get("rps")
    bare_us = summary.get("bare", {}).get("server_cpu_us")
    head = (
        f"{'path':<44} {'req/s':>8} {'spread':>13} {'ratio':>6} {'target':>7} {'p99 ms':>7} {'p99 tgt':>7} "
        f"{'errs':>5} {'wrk':>5} {'server':>6} {'stand':>5} {'other':>5} {'µs/req':>7} {'loop µs':>7} {'cpu-ratio':>9}"
    )
    lines = [head, "-" * len(head)]
    for key, s in summary.items():
        spec = specs[key]
        if spec.ceiling is not None:
            ratio: float | None = s["rps"] / spec.ceiling
            target = f"{spec.target_ratio:.2f}c"
        else:
            ratio = s["rps"] / bare if bare else None
            target = f"{spec.target_ratio:.2f}" if spec.target_ratio else "-"
        s["ratio"] = ratio
        s["ratio_to"] = f"{spec.ceiling:g} req/s" if spec.ceiling else "bare"
        s["target_ratio"] = spec.target_ratio
        s["p99_target_ms"] = spec.p99_target_ms
        s["meets_ratio"] = None if spec.target_ratio is None or ratio is None else ratio >= spec.target_ratio
        s["meets_p99"] = None if spec.p99_target_ms is None else s["p99_ms"] < spec.p99_target_ms
        # The same ratio from CPU per request (bare's µs / this path's µs): what the ratio would
        # be if each server had a core to itself. Not meaningful for vote_slow (it waits, not works).
        s["cpu_ratio"] = bare_us / s["server_cpu_us"] if bare_us and s["server_cpu_us"] else None
        cpu_ratio = f"{s['cpu_ratio']:.3f}" if s["cpu_ratio"] else "-"
        mark = "" if s["meets_ratio"] in (None, True) else "!"
        pmark = "" if s["meets_p99"] in (None, True) else "!"
        cpu = s["cpu"]
        lines.append(
            f"{spec.label:<44} {s['rps']:>8.0f} {s['rps_min']:>6.0f}-{s['rps_max']:<6.0f} "
            f"{(f'{ratio:.3f}' if ratio is not None else '-'):>6}{mark:1}{target:>6} "
            f"{s['p99_ms']:>7.2f}{pmark:1}{(f'{spec.p99_target_ms:g}' if spec.p99_target_ms else '-'):>6} "
            f"{s['errors']:>5} {cpu['wrk']:>5.2f} {cpu['server']:>6.2f} {cpu['standin']:>5.2f} {cpu['others']:>5.2f} "
            f"{s['server_cpu_us']:>7.0f} {s['loop_cpu_us']:>7.0f} {cpu_ratio:>9}"
        )
    lines.append(
        "ratio: to the bare endpoint of the same run (vote_slow: to 256 connections / 50 ms, marked c); "
        "'!' misses the target."
    )
    lines.append("CPU columns: cores busy on average during the load (2 on this machine): wrk, the server "
                 "process, the siteverify stand-in, everything else on the machine.")
    lines.append("µs/req: the server process's CPU per request (loop µs: its event loop thread's part);\n"
                 "cpu-ratio: bare's µs/req over this path's "
                 "(the ratio with a core each, steadier under noise).")
    return "\n".join(lines)


def markdown(summary: dict[str, dict[str, Any]], specs: dict[str, Scenario], export: dict[str, Any] | None) -> str:
    """The table for docs/performance.md and the README (call after table(), which adds the ratios)."""
    lines = [
        "| path | req/s (median, min-max) | ratio | target | p99 ms | p99 target | server µs/req | loop µs/req "
        "| CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, s in summary.items():
        spec = specs[key]
        ratio = "1" if key == "bare" else (f"{s['ratio']:.2f}" if s.get("ratio") is not None else "-")
        if spec.ceiling is not None:
            ratio += f" of {spec.ceiling:,.0f}/s"
        target = f"≥ {spec.target_ratio:.2f}" if spec.target_ratio is not None else "-"
        cpu_ratio = "-" if spec.ceiling is not None or not s.get("cpu_ratio") else f"{s['cpu_ratio']:.2f}"
        lines.append(
            f"| {spec.label} | {s['rps']:,.0f} ({s['rps_min']:,.0f}-{s['rps_max']:,.0f}) | {ratio} | {target} | "
            f"{s['p99_ms']:.1f} | {f'< {spec.p99_target_ms:g}' if spec.p99_target_ms else '-'} | "
            f"{s['server_cpu_us']:.0f} | {s['loop_cpu_us']:.0f} | {cpu_ratio} |"
        )
    if export and "rows" in export:
        lines += ["", "| export of 1,000,000 votes | rows/s | RSS growth |", "|---|---|---|"]
        for where, label in PATHS:
            for fmt, r in export.get(where, {}).items():
                lines.append(f"| {label}, {fmt} | {r['rows_per_s']:,.0f} | {r['rss_growth_mib']:.1f} MiB |")
    return "\n".join(lines)


def export_table(result: dict[str, Any]) -> str:
    if "rows" not in result:
        return f"export failed: {result}"
    lines = [f"export of {result['rows']:,} votes (target ≥ 200,000 rows/s, RSS growth < 50 MiB)"]
    for where, _ in PATHS:
        for fmt, r in result.get(where, {}).items():
            lines.append(
                f"  {where:<13} {fmt:<7} {r['rows_per_s']:>9,.0f} rows/s  {r['seconds']:6.2f} s  "
                f"RSS growth {r['rss_growth_mib']:5.1f} MiB"
            )
    return "\n".join(lines)


def machine_info() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    versions: dict[str, str | None] = {}
    for package in ("feedbackwidget", "starlette", "uvicorn", "uvloop", "httptools", "aiohttp", "asyncpg"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
        "versions": versions,
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else None,
    }


# -- main -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    parser.add_argument("--slow-connections", type=int, default=256, help="connections for the 50 ms siteverify run")
    parser.add_argument("--rounds", type=int, default=1, help="run every scenario this many times; report medians")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of unmeasured load per scenario, first round")
    parser.add_argument("--only", help="comma-separated: bare,article,widget304,widget200,vote,vote_slow,vote_pg")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="server to create a scratch database on")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--export", action="store_true", help="also run benchmarks/export_bench.py")
    parser.add_argument("--export-rows", type=int, default=1_000_000)
    parser.add_argument("--seed-votes", type=int, default=20_000, help="votes stored before the read benchmark")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs and databases")
    parser.add_argument("--metrics", action="store_true",
                        help="also run the vote and read paths on a server recording metrics (article_m, vote_m)")
    args = parser.parse_args(argv)

    for tool, why in (("wrk", "the load generator (Debian package wrk)"),):
        if shutil.which(tool) is None:
            print(f"run.py: {tool} not found: {why}", file=sys.stderr)
            return 2
    for module in ("uvloop", "httptools"):
        try:
            __import__(module)
        except ImportError:
            print(f"run.py: {module} is not installed (pip install 'uvicorn[standard]')", file=sys.stderr)
            return 2

    want = set(args.only.split(",")) if args.only else None
    if args.metrics and want is not None:
        want |= {"article", "vote", "article_m", "vote_m"}
    use_pg = not args.no_postgres and postgres_available() and (want is None or "vote_pg" in want)
    if want is not None:
        want.add("bare")  # ratios need the yardstick in the same run
    work = Path(tempfile.mkdtemp(prefix="fw-bench-"))
    logs = work
    services: dict[str, Service] = {}
    pg_name: str | None = None
    tag = secrets.token_hex(4)
    started_at = dt.datetime.now(dt.UTC)
    machine = machine_info()
    rounds: dict[str, list[dict[str, Any]]] = {}
    export_result: dict[str, Any] | None = None
    try:
        sqlite_url = f"sqlite:///{work / 'bench.db'}"
        print(f"seeding {args.seed_votes} votes over {ARTICLES} articles …", flush=True)
        asyncio.run(_seed(sqlite_url, args.seed_votes))

        services["captcha0"] = fake_captcha("captcha0", 0.0)
        services["captcha50"] = fake_captcha("captcha50", SLOW_LATENCY)
        services["bare"] = Service(
            "bare",
            [PYTHON, str(HERE / "bare.py"), "--port", str(port := free_port()), "--trusted-proxies", "127.0.0.1"],
            {},
            port,
        )
        services["sqlite"] = widget_server("sqlite", sqlite_url, services["captcha0"])
        services["sqlite_slow"] = widget_server(
            "sqlite_slow", f"sqlite:///{work / 'bench-slow.db'}", services["captcha50"]
        )
        if args.metrics:  # the same SQLite file: the two servers are never loaded at once
            services["sqlite_metrics"] = widget_server(
                "sqlite_metrics", sqlite_url, services["captcha0"], metrics_token="bench-" + secrets.token_hex(16)
            )
        if use_pg:
            pg_url, pg_name = scratch_database(args.postgres)
            services["postgres"] = widget_server("postgres", pg_url, services["captcha0"])
        for service in services.values():
            service.start(logs)
        for service in services.values():
            service.wait_ready()

        specs = scenarios(args.slow_connections, widget_etag(services["sqlite"]))
        chosen = [s for s in specs if (want is None or s.key in want) and s.service in services]
        # a path with metrics runs right after the same path without (the store has grown alike)
        chosen = [s for s in chosen if s.key not in {on for on, _ in METRICS_PAIRS}]
        for on, off in METRICS_PAIRS:
            at = next((i for i, s in enumerate(chosen) if s.key == off), None)
            if at is not None and "sqlite_metrics" in services:
                chosen.insert(at + 1, next(s for s in specs if s.key == on))
        for spec in chosen:
            probe(spec, services[spec.service])
        by_key = {s.key: s for s in chosen}
        for round_no in range(args.rounds):
            for spec in chosen:
                service = services[spec.service]
                standin = services.get(spec.standin) if spec.standin else None
                connections = spec.connections or args.connections
                # captcha tokens are single-use: every wrk run gets its own tag
                if round_no == 0 and args.warmup > 0:
                    run_wrk(spec, service, standin, args.warmup, connections, f"{tag}-{spec.key}-w")
                result = run_wrk(spec, service, standin, args.duration, connections, f"{tag}-{spec.key}-{round_no}")
                result["rss_kib"] = rss_kib(service.pid)
                rounds.setdefault(spec.key, []).append(result)
                print(
                    f"round {round_no + 1}/{args.rounds} {spec.key:<10} {result['rps']:>9.0f} req/s  "
                    f"p99 {result['p99_ms']:7.2f} ms  errors {result['errors_total']} {result['errors']}  "
                    f"cpu wrk {result['cpu']['wrk']:.2f} server {result['cpu']['server']:.2f} "
                    f"stand-in {result['cpu']['standin']:.2f} others {result['cpu']['others']:.2f}",
                    flush=True,
                )
        if args.export:
            done = subprocess.run(
                [PYTHON, str(HERE / "export_bench.py"), "--rows", str(args.export_rows), "--json"],
                capture_output=True, text=True, check=False, cwd=HERE.parent,
            )
            sys.stderr.write(done.stderr)
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
            export_result = json.loads(lines[-1]) if lines else {"error": done.stdout[-2000:]}
    finally:
        for service in reversed(list(services.values())):
            service.stop()
        if pg_name is not None:
            drop_database(args.postgres, pg_name)
        if not args.keep_logs:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs and databases kept in {work}")

    summary = {key: summarise(key, runs) for key, runs in rounds.items()}
    text = table(summary, by_key) if summary else ""
    if args.metrics:
        text += "\n" + metrics_overhead(summary)
    print()
    print(text)
    if export_result is not None:
        print()
        text += "\n\n" + export_table(export_result)
        print(export_table(export_result))
    md = markdown(summary, by_key, export_result) if summary else ""
    print()
    print(md)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"run-{started_at:%Y%m%dT%H%M%SZ}.json"
    out.write_text(
        json.dumps(
            {
                "started_at": started_at.isoformat(),
                "finished_at": dt.datetime.now(dt.UTC).isoformat(),
                "machine": machine,
                "options": vars(args),
                "summary": summary,
                "rounds": rounds,
                "export": export_result,
                "table": text,
                "markdown": md,
            },
            indent=1,
        )
    )
    print(f"\nwritten {out.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
