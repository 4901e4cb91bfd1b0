"""``manage.py create_scim_token SLUG``: issue a SCIM bearer token; it is printed once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from ...connections import get_connection
from ...tokens import issue_token


class Command(BaseCommand):
    help = (
        "Issue a SCIM bearer token for the connection SLUG. The token is printed alone on the "
        "last line of output and is not stored in clear: copy it now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The connection's slug (settings or database).")
        parser.add_argument("--name", default="", help="A label to recognise the token by.")
        parser.add_argument(
            "--expires-in-days", type=int, default=None, help="Expire the token after N days."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connection = get_connection(options["slug"])
        if connection is None:
            raise CommandError(f"No connection with slug {options['slug']!r}.")
        expires_at = None
        if options["expires_in_days"] is not None:
            if options["expires_in_days"] <= 0:
                raise CommandError("--expires-in-days must be a positive number of days.")
            expires_at = timezone.now() + timedelta(days=options["expires_in_days"])
        token, raw = issue_token(connection, name=options["name"], expires_at=expires_at)
        self.stderr.write(
            f"SCIM token {token.prefix}… issued for {connection.slug}"
            + (f", expires {expires_at:%Y-%m-%d}" if expires_at else "")
            + ". It is shown once:"
        )
        if not connection.is_active:
            # Settings (or the row) say inactive, or it was removed from settings.
            self.stderr.write(
                f"Warning: connection {connection.slug} is inactive; the token is refused "
                "until it is active."
            )
        self.stdout.write(raw)
