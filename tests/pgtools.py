"""PostgreSQL for tests: a fresh database on the server named by
``FEEDBACKWIDGET_TEST_POSTGRES`` (default postgres on 127.0.0.1:5432), dropped
afterwards; a real PgBouncer in front of it; a TCP relay that can cut every
connection. Without a reachable server (or without Debian's ``pgbouncer``) the
test skips and says why, unless ``FEEDBACKWIDGET_REQUIRE_POSTGRES=1`` (set by
.ci/run) turns that into a failure. ``FEEDBACKWIDGET_TEST_PGBOUNCER`` names
another pgbouncer binary."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest

from .helpers import free_port

ADMIN_URL = os.environ.get("FEEDBACKWIDGET_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("FEEDBACKWIDGET_REQUIRE_POSTGRES") == "1"
#: Debian installs it in /usr/sbin, which is not on every user's PATH.
PGBOUNCER = os.environ.get("FEEDBACKWIDGET_TEST_PGBOUNCER") or shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


async def admin(sql: str) -> None:
    await execute(ADMIN_URL, sql)


async def execute(url: str, sql: str) -> None:
    """Run ``sql`` (one or more statements, no parameters) on the database at ``url``."""
    import asyncpg

    conn = await asyncpg.connect(url, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def own_role(url: str, name: str) -> Iterator[None]:
    """A login role ``name`` owning a schema ``name``, its default ``search_path``, in the
    database at ``url``; dropped afterwards with its schema and its sessions (which a pooler
    would otherwise keep open)."""
    asyncio.run(execute(
        url, f"CREATE ROLE {name} LOGIN; CREATE SCHEMA {name} AUTHORIZATION {name}; "
        f"ALTER ROLE {name} SET search_path = {name}"
    ))
    try:
        yield
    finally:
        asyncio.run(execute(
            url, f"DROP SCHEMA {name} CASCADE; SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE usename = '{name}'; DROP ROLE {name}"
        ))


def unavailable(reason: str) -> NoReturn:
    if REQUIRE_POSTGRES:
        pytest.fail(reason + " (FEEDBACKWIDGET_REQUIRE_POSTGRES=1)")
    pytest.skip(reason)


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty database, dropped when the block ends."""
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        unavailable("asyncpg is not installed (pip install 'feedbackwidget[postgres]')")
    name = prefix + secrets.token_hex(6)
    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # any reason the server cannot be used
        where = f"{urlsplit(ADMIN_URL).hostname}:{urlsplit(ADMIN_URL).port or 5432}"
        unavailable(f"PostgreSQL is not reachable at {where}: {type(exc).__name__}: {exc}")
    try:
        yield with_database(ADMIN_URL, name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class PgBouncer:
    """A real PgBouncer (Debian's, 1.18) on a free loopback port in front of the test server.

    ``mode`` is its ``pool_mode``. By default every database name is passed on
    to the server (``* =``) and any role the server knows may log in (looked up
    through ``auth_user``, trust authentication, as the test server has);
    ``databases`` replaces that list and ``settings`` adds to the
    ``[pgbouncer]`` section (None leaves a setting out). It runs in the foreground as a child process (as
    user postgres when the tests run as root, since PgBouncer refuses root) and
    is stopped by its process id.
    """

    def __init__(self, mode: str = "transaction", *, databases: str | None = None, **settings: str | int | None) -> None:
        server = urlsplit(ADMIN_URL)
        self.admin_user = server.username or "postgres"
        self.mode = mode
        self.databases = databases or f"* = host={server.hostname or '127.0.0.1'} port={server.port or 5432}"
        self.settings = settings
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.directory = ""

    def url(self, database: str, user: str | None = None, query: str = "") -> str:
        """A ``postgresql://`` URL through this PgBouncer."""
        return f"postgresql://{user or self.admin_user}@127.0.0.1:{self.port}/{database}" + (f"?{query}" if query else "")

    def _config(self) -> str:
        settings: dict[str, str | int | None] = {
            "listen_addr": "127.0.0.1",
            "listen_port": self.port,
            "unix_socket_dir": "",
            "pool_mode": self.mode,
            "auth_type": "trust",
            "auth_file": os.path.join(self.directory, "users.txt"),
            "auth_user": self.admin_user,
            "admin_users": self.admin_user,
            "default_pool_size": 10,
            "max_client_conn": 500,
            **self.settings,
        }
        lines = ["[databases]", self.databases, "", "[pgbouncer]"]
        lines += [f"{name} = {value}" for name, value in settings.items() if value is not None]
        return "\n".join(lines) + "\n"

    def start(self) -> PgBouncer:
        binary = PGBOUNCER
        if not os.access(binary, os.X_OK):
            unavailable(f"pgbouncer is not installed at {binary} (Debian: apt-get install pgbouncer)")
        if not self.directory:
            self.directory = tempfile.mkdtemp(prefix="fw-pgbouncer-")
            os.chmod(self.directory, 0o755)  # PgBouncer reads it as user postgres
        self.port = self.port or free_port()
        for name, text in (("pgbouncer.ini", self._config()), ("users.txt", f'"{self.admin_user}" ""\n')):
            Path(self.directory, name).write_text(text)
        command = [binary, os.path.join(self.directory, "pgbouncer.ini")]
        if os.geteuid() == 0:
            command[1:1] = ["-u", "postgres"]
        log = open(os.path.join(self.directory, "log.txt"), "ab")  # noqa: SIM115 - the child keeps it
        with log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self._wait_listening()
        return self

    def _wait_listening(self, limit: float = 15.0) -> None:
        """Poll until the port accepts connections (PgBouncer signals nothing of its own)."""
        assert self.process is not None
        deadline = time.monotonic() + limit
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"pgbouncer exited: {self.log()[-2000:]}")
            with socket.socket() as probe:
                probe.settimeout(1.0)
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"pgbouncer did not listen: {self.log()[-2000:]}")
            time.sleep(0.02)

    def log(self) -> str:
        path = Path(self.directory, "log.txt")
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Shut down at once (SIGTERM), closing every client and server connection."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


class Outage:
    """A loopback TCP relay in front of a server that can vanish and come back,
    taking every open connection with it (the network edge, not our code)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        await self.server.wait_closed()
        self.server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}
