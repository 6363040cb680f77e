"""``feedbackwidget serve | demo | export | migrate | backup | restore | prune``.

Configuration problems stop the command with one line naming the variable
(exit status 2); a database that does not answer is one line too (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import logging.config
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

import uvicorn

from . import backup, export, logs, retention
from .app import FeedbackWidget
from .config import PREFIX, Settings, warn_unknown_variables
from .errors import ConfigError, FeedbackError
from .sites import load_sites, site_id
from .store import Store, open_store
from .store.scoped import SiteStore
from .store.site_keys import DEFAULT as DEFAULT_SITE
from .types import EXPORT_FORMATS, EXPORT_KINDS, Pruned


@contextlib.contextmanager
def _one_line() -> Iterator[None]:
    """A one-shot command prints its own failure in one line; the store's log line of the same
    failure (meant for a running server's operator) would be a second."""
    logger = logging.getLogger("feedbackwidget.store")
    before, logger.disabled = logger.disabled, True
    try:
        yield
    finally:
        logger.disabled = before


def app_from_env() -> FeedbackWidget:
    """The app factory each ``serve`` worker process calls."""
    return FeedbackWidget(Settings.from_env())


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(database_url=getattr(args, "database_url", None))


def _database_url(args: argparse.Namespace) -> str:
    """The store URL for commands that need only the database (no secret key)."""
    url = args.database_url or os.environ.get(PREFIX + "DATABASE_URL") or "sqlite:///feedbackwidget.db"
    Settings(database_url=url, secret_key="-")  # noqa: S106 - validation only, never signs  # validates the URL, naming the variable on error
    return url


def server_options(settings: Settings, *, host: str, port: int) -> dict[str, Any]:
    """uvicorn options for ``serve``: the proxy list is ours, never uvicorn's default
    (which believes X-Forwarded-For from 127.0.0.1)."""
    trusted = list(settings.trusted_proxies)
    return {
        "host": host,
        "port": port,
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": ",".join(trusted) if trusted else "",
        "server_header": False,
        "backlog": 2048,
    }


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.log_format == "json":  # from the first line on, not only once uvicorn starts
        logging.config.dictConfig(logs.log_config(args.log_level))
    if args.database_url:
        os.environ[PREFIX + "DATABASE_URL"] = args.database_url  # worker processes read it
    with _one_line():
        asyncio.run(_migrate(settings.database_url))
    options = server_options(settings, host=args.host, port=args.port)
    options.update(access_log=args.access_log, log_level=args.log_level)
    if settings.log_format == "json":
        options["log_config"] = logs.log_config(args.log_level)
    if args.workers > 1:
        with _metrics_dir():
            uvicorn.run("feedbackwidget.cli:app_from_env", factory=True, workers=args.workers, **options)
    elif os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # one worker, in the operator's folder
        with _metrics_dir():
            uvicorn.run(FeedbackWidget(settings), **options)
    else:
        uvicorn.run(FeedbackWidget(settings), **options)
    return 0


@contextlib.contextmanager
def _metrics_dir() -> Iterator[None]:
    """Where the workers of one ``serve`` keep their metrics (prometheus-client's multi-process
    mode, which every worker turns on at import when PROMETHEUS_MULTIPROC_DIR is set): the
    operator's folder, emptied of a previous run's files (they would be summed in), or a
    temporary one removed when the server stops."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        os.makedirs(given, exist_ok=True)
        for name in os.listdir(given):
            if name.endswith(".db"):
                os.remove(os.path.join(given, name))
        yield
        return
    folder = tempfile.mkdtemp(prefix="feedbackwidget-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    try:
        yield
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(folder, ignore_errors=True)


async def _migrate(url: str) -> None:
    store = open_store(url)
    await store.open()  # migrates under the backend's lock
    await store.close()


def cmd_migrate(args: argparse.Namespace) -> int:
    with _one_line():
        asyncio.run(_migrate(_database_url(args)))
    print("feedbackwidget: the database schema is up to date")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    params = {"format": args.format, "kind": args.kind}
    if args.since:
        params["since"] = args.since
    if args.until:
        params["until"] = args.until
    if args.after:
        params["after"] = args.after
    if args.tz:
        params["tz"] = args.tz
    for name in ("section", "author", "tag"):  # kind=articles only: what the articles are about
        if getattr(args, name, None):
            params[name] = getattr(args, name)
    query = export.ExportQuery.from_params(params)
    if args.site is not None and args.site != export.ALL_SITES:
        try:
            site_id(args.site)
        except ValueError as exc:
            raise ConfigError("--site", str(exc)) from None
    sites_file = os.environ.get(PREFIX + "SITES_FILE", "").strip()
    configured = [site.id for site in load_sites(sites_file)] if sites_file else None
    url = _database_url(args)
    if args.output and args.output != "-":
        with open(args.output, "wb") as out, _one_line():
            asyncio.run(_export(url, query, out, args.site, configured))
    else:
        with _one_line():
            asyncio.run(_export(url, query, sys.stdout.buffer, args.site, configured))
        sys.stdout.flush()
    return 0


def _export_site(asked: str | None, configured: list[str] | None, stored: list[str]) -> str | None:
    """The site an export is of: ``--site ID`` (one of the sites file's, or of the store's when
    there is no file), ``'*'`` every site (each row saying whose), by default every site when
    a sites file is set or the store holds named sites; None for a single-site store.
    Raises ConfigError for a site that neither names."""
    several = configured is not None or bool(set(stored) - {DEFAULT_SITE})
    if asked is None:
        return export.ALL_SITES if several else None
    known = configured if configured is not None else [DEFAULT_SITE, *stored]
    if asked != export.ALL_SITES and asked not in known:
        where = "FEEDBACKWIDGET_SITES_FILE" if configured is not None else "this store"
        raise ConfigError("--site", f"{where} has no site {asked!r} (it has: {', '.join(sorted(set(known)))})")
    return asked


async def _export(
    url: str, query: export.ExportQuery, out: BinaryIO, asked: str | None, configured: list[str] | None
) -> None:
    opened = open_store(url)
    await opened.open()
    try:
        site = _export_site(asked, configured, await opened.sites())
        store: Store = SiteStore(opened, site) if site is not None and site != export.ALL_SITES else opened
        if site is not None:
            query = dataclasses.replace(query, site=site)
        async for chunk in export.encoded(store, query):
            out.write(chunk)
    finally:
        await opened.close()


def cmd_backup(args: argparse.Namespace) -> int:
    result = backup.backup_sqlite(backup.sqlite_path(_database_url(args)), args.path)
    print(f"feedbackwidget: backed up {result.votes} votes and {result.events} events to {result.path} "
          f"({result.size} bytes, schema {result.version}, {result.seconds:.1f} s)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    result = backup.restore_sqlite(args.path, backup.sqlite_path(_database_url(args)), replace=args.replace)
    print(f"feedbackwidget: restored {result.votes} votes and {result.events} events into {result.path} "
          f"({result.seconds:.1f} s)")
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    # Only the database and the RETAIN_* settings matter here; nothing is signed.
    settings = Settings.from_env(database_url=args.database_url, secret_key="-")  # noqa: S106
    policy = retention.Policy.from_settings(settings)
    if not policy.active:
        print("feedbackwidget: nothing to prune (no RETAIN_*_DAYS setting is set: everything is kept)")
        return 0
    with _one_line():
        result = asyncio.run(_prune(settings.database_url, policy))
    print(f"feedbackwidget: deleted {result.events} events and {result.refusals} refusal rows, "
          f"cleared {result.reason_texts} reason texts")
    return 0


async def _prune(url: str, policy: retention.Policy) -> Pruned:
    store = open_store(url)
    await store.open()
    try:
        result = await retention.prune(store, policy, dt.datetime.now(dt.UTC))
    finally:
        await store.close()
    assert result is not None  # every=0: the turn is always ours
    return result


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(port=args.port, captcha=args.captcha)
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="feedbackwidget", description='"Do you like this article?" for publishers.')
    commands = top.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the widget server (settings from FEEDBACKWIDGET_* variables)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--database-url")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--access-log", action="store_true", help="log each request (includes client addresses)")
    serve.set_defaults(run=cmd_serve)

    demo = commands.add_parser("demo", help="a sample article page with the widget, on the embedded store")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--captcha", choices=["hcaptcha-test", "fake"], default="hcaptcha-test")
    demo.set_defaults(run=cmd_demo)

    exp = commands.add_parser("export", help="write an export kind as CSV, NDJSON or Parquet")
    exp.add_argument("--format", choices=EXPORT_FORMATS, required=True)
    exp.add_argument("--kind", choices=EXPORT_KINDS, default="votes")
    exp.add_argument("--since", help="ISO date or date-time (inclusive)")
    exp.add_argument("--until", help="ISO date or date-time (exclusive)")
    exp.add_argument("--after", help="kind=events only: the last event_id already fetched")
    exp.add_argument("--tz", help="kind=daily only: count days in this IANA time zone")
    for name in ("section", "author", "tag"):
        exp.add_argument(f"--{name}", help=f"kind=articles only: the articles of this {name} (exact name)")
    exp.add_argument("--site", help="one site's rows (its id), or '*' for every site with a site column "
                     "(the default when FEEDBACKWIDGET_SITES_FILE is set)")
    exp.add_argument("--output", help="file to write (default: standard output)")
    exp.add_argument("--database-url")
    exp.set_defaults(run=cmd_export)

    mig = commands.add_parser("migrate", help="create or upgrade the database schema")
    mig.add_argument("--database-url")
    mig.set_defaults(run=cmd_migrate)
    bak = commands.add_parser("backup", help="copy the SQLite store to PATH while servers run (online backup API)")
    bak.add_argument("path", help="the backup file to write (replaced if it exists)")
    bak.add_argument("--database-url")
    bak.set_defaults(run=cmd_backup)

    res = commands.add_parser("restore", help="copy a backup file into the SQLite store (servers stopped)")
    res.add_argument("path", help="a file written by feedbackwidget backup")
    res.add_argument("--replace", action="store_true", help="overwrite a store that already holds votes")
    res.add_argument("--database-url")
    res.set_defaults(run=cmd_restore)
    prune = commands.add_parser("prune", help="delete what the RETAIN_*_DAYS settings no longer keep, now")
    prune.add_argument("--database-url")
    prune.set_defaults(run=cmd_prune)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    warn_unknown_variables(os.environ)
    try:
        status: int = args.run(args)
    except ConfigError as error:
        print(f"feedbackwidget: {error.detail}", file=sys.stderr)
        return 2
    except FeedbackError as error:
        print(f"feedbackwidget: {error.detail}", file=sys.stderr)
        return 1
    except OSError as error:  # e.g. an --output file that cannot be written
        print(f"feedbackwidget: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
