"""System tools some tests need (Debian's xmlsec1 for the pysaml2 interop tests, Chromium, Redis).

On a developer's machine without them, those tests are skipped with the command that installs
them; in CI (``CI`` set, as ``.ci/run`` runs) a missing tool fails the test instead, so CI can
never pass by skipping them.
"""

from __future__ import annotations

import os
import shutil

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
