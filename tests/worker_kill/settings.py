"""The example project's settings on PostgreSQL, with the ``worker_kill`` app.

The database is named by ``WORKER_KILL_DB``; host, port, user and password come from libpq's
``PG*`` environment variables, which the test sets from the suite's own database settings.
"""

from __future__ import annotations

import os

from example_project.settings import *  # noqa: F403
from example_project.settings import INSTALLED_APPS as EXAMPLE_APPS

INSTALLED_APPS = [*EXAMPLE_APPS, "tests.worker_kill"]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.postgresql", "NAME": os.environ["WORKER_KILL_DB"]}
}
