"""``manage.py prune_saml_state``: delete expired SAML replay-cache rows and pending logins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ...saml.replay import prune_expired
from ...saml.state import prune_pending_logins


def _prune_all(prune: Callable[..., int], batch_size: int, **kwargs: Any) -> int:
    """Call *prune* batch after batch until a batch comes back short; return the total."""
    total = 0
    while True:
        deleted = prune(limit=batch_size, **kwargs)
        total += deleted
        if deleted < batch_size:
            return total


class Command(BaseCommand):
    help = (
        "Delete expired SAML state: replay-cache rows of assertions that can no longer be "
        "accepted, and pending logins older than their time to live. Live rows are kept. "
        "Safe to run at any time and from cron (e.g. hourly); sign-ins also prune a bounded "
        "batch each, so this only clears a backlog."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=1000,
            help="rows deleted per statement (default 1000), so no lock is held for long",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        now = timezone.now()
        replayed = _prune_all(prune_expired, batch_size, now=now)
        pending = _prune_all(prune_pending_logins, batch_size, now=now)
        if options["verbosity"] >= 1:
            self.stdout.write(
                f"Deleted {replayed} expired replay-cache row(s) and {pending} expired "
                "pending login(s)."
            )
