"""The reference deployment, started for real on loopback: nginx terminating TLS and serving
the widget under /feedback, two ``feedbackwidget serve`` processes (the second one, if asked,
with its clock shifted by ``faketime``), PgBouncer in transaction pooling mode, PostgreSQL and
Redis. docs/deployment.md walks through the same files; tests/test_deployment.py drives this
stack from a cross-site publisher page in Chromium.

    python examples/deployment/stack.py     # prints the URLs; Ctrl-C stops everything

Needs Debian's nginx, pgbouncer, openssl (and faketime for a skewed clock), a PostgreSQL
server it may create a database on (FEEDBACKWIDGET_TEST_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/postgres) and Redis on 127.0.0.1:6379. The captcha is
the loopback stand-in (``feedbackwidget.fakecaptcha``): this machine cannot reach hCaptcha.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
PREFIX = "/feedback"
#: The one query parameter the store needs behind PgBouncer in transaction mode (docs/deployment.md).
POOLER_OPTION = "pooler=on"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def render(template: Path, values: dict[str, str]) -> str:
    text = template.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    left = re.findall(r"@[A-Z0-9_]+@", text)
    if left:
        raise ValueError(f"{template.name}: {', '.join(left)} left unfilled")
    return text


def self_signed_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A certificate for ``host`` (an IP address or a name), valid for a day."""
    cert, key = directory / "tls.crt", directory / "tls.key"
    kind = "IP" if host.replace(".", "").isdigit() or ":" in host else "DNS"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={host}",
         "-addext", f"subjectAltName={kind}:{host}", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@dataclass
class Stack:
    """Every process of the deployment; :meth:`start` brings them up, :meth:`stop` takes them down."""

    captcha_env: dict[str, str]
    allowed_origins: str = ""
    clock_offset: int = 0
    #: Log each request of the app servers (client addresses included: for trials, not production).
    access_log: bool = False
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    export_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    pg_admin_url: str = os.environ.get("FEEDBACKWIDGET_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url: str = "redis://127.0.0.1:6379/7"
    run_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="fw-deployment-")))
    public_host: str = "127.0.0.1"
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    database: str = field(default_factory=lambda: "fw_deploy_" + secrets.token_hex(5))

    def __post_init__(self) -> None:
        self.https_port, self.pgbouncer_port = free_port(), free_port()
        self.app_ports = [free_port(), free_port()]

    @property
    def public_url(self) -> str:
        return f"https://{self.public_host}:{self.https_port}{PREFIX}"

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pgbouncer_port}/feedbackwidget?{POOLER_OPTION}"

    def app_env(self) -> dict[str, str]:
        """The settings both app servers share (the same secret key: tokens are good on either)."""
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            **self.captcha_env,
            "FEEDBACKWIDGET_DATABASE_URL": self.database_url,
            "FEEDBACKWIDGET_PUBLIC_URL": self.public_url,
            "FEEDBACKWIDGET_TRUSTED_PROXIES": "127.0.0.1",
            "FEEDBACKWIDGET_ALLOWED_ORIGINS": self.allowed_origins,
            "FEEDBACKWIDGET_REDIS_URL": self.redis_url,
            "FEEDBACKWIDGET_SECRET_KEY": self.secret_key,
            "FEEDBACKWIDGET_EXPORT_TOKEN": self.export_token,
        }

    # -- life cycle -------------------------------------------------------------

    def start(self) -> Stack:
        self.run_dir.chmod(0o755)  # PgBouncer runs as postgres and reads its files here
        try:
            self._database()
            self._pgbouncer()
            self._apps()
            self._nginx()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _database(self) -> None:
        asyncio.run(_admin(self.pg_admin_url, f'CREATE DATABASE "{self.database}"'))
        self._created = True

    def _pgbouncer(self) -> None:
        pg = urlsplit(self.pg_admin_url)
        home = self.run_dir / "pgbouncer"  # its own folder: it writes its pid and log files there
        home.mkdir()
        (home / "userlist.txt").write_text(f'"{pg.username or "postgres"}" ""\n')
        ini = home / "pgbouncer.ini"
        ini.write_text(render(HERE / "pgbouncer.ini.template", {
            "PG_PORT": str(pg.port or 5432), "PG_DATABASE": self.database, "LISTEN_PORT": str(self.pgbouncer_port),
            "RUN_DIR": str(home),
        }))
        as_user: list[str] = []
        if os.geteuid() == 0:  # PgBouncer refuses to run as root
            as_user = ["-u", "postgres"]
            shutil.chown(home, "postgres")
        self._spawn("pgbouncer", [_need("pgbouncer"), *as_user, str(ini)])
        _wait_port(self.pgbouncer_port, self.processes["pgbouncer"], home / "pgbouncer.log")

    def _apps(self) -> None:
        serve = [sys.executable, "-m", "feedbackwidget.cli", "serve", "--host", "127.0.0.1"]
        serve += ["--access-log", "--log-level", "info"] if self.access_log else ["--log-level", "warning"]
        for n, port in enumerate(self.app_ports, 1):
            command = [*serve, "--port", str(port)]
            if n == 2 and self.clock_offset:
                command = [_need("faketime"), "-f", f"{self.clock_offset:+d}s", *command]
            env = {**self.app_env(), "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
            if os.environ.get("PYTHONPATH"):
                env["PYTHONPATH"] = os.environ["PYTHONPATH"]
            self._spawn(f"app{n}", command, env=env)

    def _nginx(self) -> None:
        cert, key = self_signed_certificate(self.run_dir, self.public_host)
        conf = self.run_dir / "nginx.conf"
        conf.write_text(render(HERE / "nginx.conf.template", {
            "USER": "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody"),
            "RUN_DIR": str(self.run_dir), "PUBLIC_HOST": self.public_host, "LISTEN": f"127.0.0.1:{self.https_port}",
            "TLS_CERT": str(cert), "TLS_KEY": str(key),
            "APP_PORT_1": str(self.app_ports[0]), "APP_PORT_2": str(self.app_ports[1]),
        }))
        self._spawn("nginx", [_need("nginx"), "-p", str(self.run_dir), "-c", str(conf), "-g", "daemon off;"])

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        with (self.run_dir / f"{name}.out").open("ab") as log:  # the child keeps its own copy
            self.processes[name] = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=self.run_dir
            )

    def wait_ready(self, limit: float = 60.0) -> None:
        """Until each app server answers /healthz through nginx (polling conditions)."""
        deadline = time.monotonic() + limit
        for port in self.app_ports:
            _wait_http(f"http://127.0.0.1:{port}/healthz", deadline, self)
        _wait_http(self.public_url + "/healthz", deadline, self)

    def vote_requests(self, n: int) -> int:
        """How many votes app server ``n`` (1 or 2) answered, from its access log."""
        log = self.run_dir / f"app{n}.out"
        return log.read_text(errors="replace").count('"POST /api/v1/votes HTTP')

    def output(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in self.run_dir.glob("*.out"))

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(15)
        self.processes.clear()
        if getattr(self, "_created", False):
            asyncio.run(_admin(self.pg_admin_url, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'))
            self._created = False

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _need(program: str) -> str:
    path = shutil.which(program) or (f"/usr/sbin/{program}" if Path(f"/usr/sbin/{program}").exists() else None)
    if path is None:
        raise FileNotFoundError(f"{program} is not installed (Debian package {program})")
    return path


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path, limit: float = 20.0) -> None:
    deadline = time.monotonic() + limit
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"exited: {log.read_text(errors='replace')[-1500:] if log.exists() else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {port}")
        time.sleep(0.05)  # polling interval of the condition above


def _wait_http(url: str, deadline: float, stack: Stack) -> None:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # our own self-signed certificate
    while True:
        dead = [name for name, p in stack.processes.items() if p.poll() is not None]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited:\n{stack.output()}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer:\n{stack.output()}")
        time.sleep(0.05)  # polling interval of the condition above


def main() -> None:
    from feedbackwidget.fakecaptcha import FakeHCaptcha

    with FakeHCaptcha() as fake, Stack(fake.env(), allowed_origins="http://localhost:8001", clock_offset=5) as stack:
        print(f"widget:    {stack.public_url}/widget.js  (self-signed certificate)")
        print(f"dashboard: {stack.public_url}/admin  (token: {stack.export_token})")
        print(f"files:     {stack.run_dir}")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
