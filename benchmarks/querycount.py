"""Count (and optionally record) the SQL each request runs: the benchmark's middleware only.

Enabled by ``benchmarks/bench_settings.py``, never by the app. Each response gets
``X-Bench-Queries``: the statements its request executed through Django (``SAVEPOINT`` and
``RELEASE`` counted; the ``BEGIN``/``COMMIT`` of an atomic block are not, on PostgreSQL, as
psycopg issues them). A request with the header ``X-Bench-Capture: 1`` also gets its
statements (SQL and parameters) written as one JSON file under ``BENCH_SQL_DIR``, named by the
response header ``X-Bench-SQL-Log``: the runner EXPLAINs them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse

SQL_DIR = Path(os.environ.get("BENCH_SQL_DIR", "/tmp/dp-bench-sql"))


def _plain(value: Any) -> Any:
    """A parameter as JSON can hold it (the runner re-binds it for EXPLAIN)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    adapted = getattr(value, "obj", None)  # psycopg's Jsonb wrapper
    if adapted is not None:
        return json.dumps(adapted)
    return str(value)


class QueryCountMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        SQL_DIR.mkdir(parents=True, exist_ok=True)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        statements: list[tuple[str, Any]] = []

        def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            statements.append((sql, None if many else params))
            return execute(sql, params, many, context)

        with connection.execute_wrapper(record):
            response = self.get_response(request)
            if getattr(response, "streaming", False):
                # A streamed body runs its queries while it is consumed: count them then.
                response.streaming_content = [b"".join(response.streaming_content)]
        response["X-Bench-Queries"] = str(len(statements))
        if request.headers.get("X-Bench-Capture") == "1":
            name = f"{uuid.uuid4().hex}.json"
            data = [{"sql": sql, "params": _plain(params)} for sql, params in statements]
            (SQL_DIR / name).write_text(
                json.dumps({"vendor": connection.vendor, "statements": data})
            )
            response["X-Bench-SQL-Log"] = name
        return response
