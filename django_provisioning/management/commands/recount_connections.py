"""``manage.py recount_connections [SLUG ...]``: recompute connections' user and group counts."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...connections import get_connection
from ...counters import recount
from ...models import Connection


class Command(BaseCommand):
    help = (
        "Recompute each connection's count of users and groups (the totalResults of an "
        "unfiltered list) from its rows. The counts are kept in the transaction of every "
        "change; run this after writing link rows past the app (raw SQL, a bulk load) or to "
        "check them. Safe while the site serves requests."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="SLUG", help="only these connections")

    def handle(self, *args: Any, **options: Any) -> None:
        slugs: list[str] = options["slugs"]
        connections = []
        for slug in slugs:
            connection = get_connection(slug)
            if connection is None:
                raise CommandError(f"No connection with slug {slug!r}.")
            connections.append(connection)
        if not slugs:
            connections = list(Connection.objects.order_by("slug"))
        for connection in connections:
            before = connection.counter if hasattr(connection, "counter") else None
            old = (before.users, before.groups) if before is not None else None
            row = recount(connection)
            if options["verbosity"] >= 1:
                fixed = "" if old == (row.users, row.groups) else f" (was {old or 'missing'})"
                self.stdout.write(
                    f"{connection.slug}: {row.users} user(s), {row.groups} group(s){fixed}"
                )
