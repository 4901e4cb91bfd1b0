"""Create a setup link for a connection and print its URL (alone on the last line)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...connections import get_connection
from ...portal.links import PortalNotConfigured, create_link


class Command(BaseCommand):
    help = (
        "Create a self-serve setup link for the connection SLUG and print its URL on the last "
        "line (shown once: only its checksum is stored). Hand it to the customer's IT admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="connection slug")
        parser.add_argument(
            "--expires-in-hours",
            type=float,
            default=None,
            help="hours the link stays valid (default: PORTAL_LINK_EXPIRY_HOURS, 72)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connection = get_connection(options["slug"])
        if connection is None:
            raise CommandError(f"No connection with slug {options['slug']!r}.")
        try:
            link, url = create_link(
                connection,
                created_by="manage.py create_setup_link",
                expires_in_hours=options["expires_in_hours"],
            )
        except (PortalNotConfigured, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Setup link for connection {connection.slug!r}, valid until "
            f"{link.expires_at:%Y-%m-%d %H:%M} UTC, for the first browser that opens it:"
        )
        self.stdout.write(url)
