"""Pause a write inside its transaction, after its rows are written, so a kill lands there."""

from __future__ import annotations

import time
from typing import Any

from django.apps import AppConfig
from django.db import connection
from django.db.models.signals import post_save

# A write whose givenName starts with this is held open until the process is killed.
PAUSE_PREFIX = "PAUSE"
# What pg_stat_activity shows for a held write ("idle in transaction", this query).
PAUSED_QUERY = "SELECT 'worker_kill: paused inside the transaction'"


def hold_open(sender: Any, instance: Any, **kwargs: Any) -> None:
    """Receiver of the link row's post_save: the user row and link row are written, uncommitted."""
    given = ((instance.document or {}).get("name") or {}).get("givenName") or ""
    if not str(given).startswith(PAUSE_PREFIX):
        return
    assert connection.in_atomic_block, "a provisioning write outside a transaction"
    with connection.cursor() as cursor:
        cursor.execute(PAUSED_QUERY)
    time.sleep(600)  # the test SIGKILLs the process long before


class WorkerKillConfig(AppConfig):
    name = "tests.worker_kill"
    label = "worker_kill"

    def ready(self) -> None:
        post_save.connect(hold_open, sender="django_provisioning.ExternalIdentity")
