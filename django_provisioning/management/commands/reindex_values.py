"""``manage.py reindex_values``: rebuild the value index rows of every user (or a connection's)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...connections import get_connection
from ...value_index import reindex


class Command(BaseCommand):
    help = (
        "Rebuild the rows that answer SCIM filters on user attributes (the value index) from "
        "each user as a client reads them. Run it once after upgrading to a version that "
        "indexes more attributes; safe to run again and while the site serves requests."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--connection", metavar="SLUG", help="only the users of this connection"
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=500,
            help="users per transaction (default 500), so no lock is held for long",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        slug: str | None = options["connection"]
        connection = None
        if slug is not None:
            connection = get_connection(slug)
            if connection is None:
                raise CommandError(f"No connection with slug {slug!r}.")
        count = reindex(connection, batch_size=batch_size)
        if options["verbosity"] >= 1:
            self.stdout.write(f"Reindexed the values of {count} user(s).")
