"""Logging filters of the example project: one line per request, and no traceback for a 403.

Wired in ``settings.LOGGING``. Under ``runserver`` a SCIM request was logged twice (three
times when refused): ``django_provisioning.scim`` logs it with its connection, outcome and
time, then Django's development server logs it again (``django.server``), and Django's
request logger adds "Unauthorized: /scim/v2/Users" for a 4xx. The package's line says more, so
Django's are dropped for SCIM paths. And Django logs every ``PermissionDenied`` (a staff user
opening an admin page they may not) with a full traceback, as if it were a crash: a 403 is an
answer, so its line is kept and the traceback dropped.
"""

from __future__ import annotations

import logging

#: Where the example serves SCIM (``example_project/urls.py``).
SCIM_PREFIX = "/scim/"


def _path(record: logging.LogRecord) -> str:
    """The request path of a ``django.request`` or ``django.server`` record."""
    path = getattr(getattr(record, "request", None), "path", None)
    if isinstance(path, str):
        return path
    # django.server: args are ('"GET /scim/v2/Users HTTP/1.1"', status, size).
    args = record.args if isinstance(record.args, tuple) else ()
    request_line = str(args[0]) if args else ""
    parts = request_line.strip('"').split(" ")
    return parts[1] if len(parts) > 1 else ""


class SkipScimRequests(logging.Filter):
    """Drop Django's own lines about SCIM requests, errors excepted (the package logs them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or not _path(record).startswith(SCIM_PREFIX)


class NoTracebackForForbidden(logging.Filter):
    """Keep "Forbidden (Permission denied): /admin/..." but not its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403:
            record.exc_info = None
            record.exc_text = None
        return True
