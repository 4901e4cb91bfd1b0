"""What some tests need from the machine, and a database that fails on demand.

System tools and services (Debian's xmlsec1 for the pysaml2 interop tests, Chromium,
Redis): on a developer's machine without them, those tests are skipped with the command that
installs them; in CI (``CI`` set, as ``.ci/run`` runs) a missing one fails the test instead, so
CI can never pass by skipping them. :func:`require_postgresql` does the same for tests of real
concurrency.

:class:`FailingDatabase` and the error factories below it simulate a locked, unreachable or
deadlocking database through Django's ``connection.execute_wrapper``.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest


def require(tool: str, apt_package: str) -> str:
    """The path of *tool*; skip (locally) or fail (CI) the calling test when it is missing."""
    path = shutil.which(tool)
    if path:
        return path
    message = f"{tool} is not installed: apt-get install {apt_package}"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must run every test)")
    pytest.skip(message)


#: Headless Chromium as every browser test runs it.
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)


def headless_chromium(*extra_args: str, console_log: bool = False) -> Any:
    """A Selenium driver on Debian's Chromium (skipped or failed as :func:`require` says
    when it is missing); *console_log* keeps the page's console for ``get_log("browser")``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in (*CHROMIUM_ARGS, *extra_args):
        options.add_argument(arg)
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    options.binary_location = require("chromium", "chromium")
    driver = webdriver.Chrome(
        service=Service(executable_path=require("chromedriver", "chromium-driver")),
        options=options,
    )
    driver.set_page_load_timeout(30)
    return driver


def require_redis(url: str) -> None:
    """Skip (locally) or fail (CI) the calling test when no Redis answers at *url*."""
    try:
        import redis
    except ImportError:
        _missing("the redis package is not installed: pip install -e .[test]")
        return
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except (redis.RedisError, OSError) as exc:
        _missing(f"no Redis at {url} ({exc.__class__.__name__}): apt-get install redis-server")


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI must run every test)")
    pytest.skip(message)


def require_postgresql() -> None:
    """Skip the calling test unless the suite runs on PostgreSQL (``DATABASE=postgres``).

    Races between transactions need real row locks and concurrent connections, which SQLite
    (one writer, ``SELECT ... FOR UPDATE`` ignored) does not have. ``tox -e postgres`` runs
    them; a run that asked for PostgreSQL and got another database fails instead.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    message = "needs PostgreSQL (row locks, concurrent transactions): tox -e postgres"
    if os.environ.get("DATABASE") == "postgres":
        pytest.fail(f"{message}; DATABASE=postgres but the database is {connection.vendor}")
    pytest.skip(message)


class FailingDatabase:
    """A ``connection.execute_wrapper`` that makes matching SQL statements fail.

    ``FailingDatabase(error, match="UPDATE")`` raises ``error()`` (a Django database error) for
    every statement containing *match*, or only for the first *times* of them; ``calls``
    counts the failures. Nothing reaches the database for a failing statement, so nothing is
    written by it.
    """

    def __init__(self, error: Any, *, match: str = "", times: int | None = None) -> None:
        self.error = error
        self.match = match
        self.times = times
        self.calls = 0

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if self.match in sql and (self.times is None or self.calls < self.times):
            self.calls += 1
            raise self.error()
        return execute(sql, params, many, context)


def deadlock() -> Exception:
    """The error Django raises for PostgreSQL's ``deadlock detected`` (SQLSTATE 40P01)."""
    import psycopg.errors
    from django.db import OperationalError

    error = OperationalError("deadlock detected")
    error.__cause__ = psycopg.errors.DeadlockDetected("deadlock detected")
    return error


def serialization_failure() -> Exception:
    """Django's error for PostgreSQL's serialization failure (SQLSTATE 40001)."""
    import psycopg.errors
    from django.db import OperationalError

    error = OperationalError("could not serialize access due to concurrent update")
    error.__cause__ = psycopg.errors.SerializationFailure("could not serialize access")
    return error


def database_locked() -> Exception:
    """SQLite's answer when another connection holds the write lock past the busy timeout."""
    from django.db import OperationalError

    return OperationalError("database is locked")


def connection_refused() -> Exception:
    """The database server is down."""
    from django.db import OperationalError

    return OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        "Connection refused"
    )


def connection_closed() -> Exception:
    """The connection went away under the request."""
    from django.db import InterfaceError

    return InterfaceError("connection already closed")
