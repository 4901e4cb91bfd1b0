"""Settings of the benchmark: the example project on the seeded database, queries counted.

Used by ``benchmarks/seed.py`` and ``benchmarks/run.py`` (never by the app or its tests). It is
``example_project.settings`` with:

- the database the benchmark seeded: SQLite at ``BENCH_SQLITE`` (default
  ``benchmarks/.data/bench-<users>.sqlite3``, named by the runner), or PostgreSQL when
  ``BENCH_DATABASE=postgres`` (database ``BENCH_PGDATABASE``, at ``PGHOST``/``PGPORT`` as
  ``PGUSER``);
- :class:`benchmarks.querycount.QueryCountMiddleware` first, which adds the response headers
  ``X-Bench-Queries`` (statements the request ran) and, asked with ``X-Bench-Capture: 1``,
  ``X-Bench-SQL-Log`` (where it wrote their SQL, for the runner's EXPLAIN);
- DEBUG off and no per-request logging, so the timings are the app's, not the console's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "example_project"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

os.environ.setdefault("DEVIDP_KEY_DIR", str(ROOT / "benchmarks" / ".data" / "devidp-keys"))

from example_project.settings import *  # noqa: E402,F403
from example_project.settings import LOGGING, MIDDLEWARE  # noqa: E402

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]

if os.environ.get("BENCH_DATABASE", "sqlite") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("BENCH_PGDATABASE", "bench_dp"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "CONN_MAX_AGE": 600,
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get(
                "BENCH_SQLITE", str(ROOT / "benchmarks" / ".data" / "bench.sqlite3")
            ),
            "CONN_MAX_AGE": 600,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
            },
        }
    }

MIDDLEWARE = ["benchmarks.querycount.QueryCountMiddleware", *MIDDLEWARE]

LOGGING = {
    **LOGGING,
    "loggers": {
        **LOGGING["loggers"],
        "django_provisioning": {"handlers": ["console"], "level": "WARNING"},
    },
}
