"""``manage.py refresh_idp_metadata [SLUG ...]``: fetch every IdP metadata URL again (cron)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...models import Connection
from ...saml.metadata_import import MetadataError
from ...saml.metadata_refresh import refresh_connection


class Command(BaseCommand):
    help = (
        "Fetch the IdP metadata URL of each connection created in the database (or of the "
        "connections SLUG ...) and apply it: the signing certificates the metadata lists "
        "(certificate rollover), the entity id and the SSO and SLO URLs. Each change is "
        "audited. Quiet when all goes well (-v 2 reports each connection); a failure is "
        "reported on standard error, the other connections are still refreshed, and the "
        "command exits with status 1. Connections declared in settings are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="SLUG", help="only these connections")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = int(options.get("verbosity", 1))
        slugs: list[str] = options["slugs"]
        if slugs:
            found = {c.slug: c for c in Connection.objects.filter(slug__in=slugs)}
            missing = [slug for slug in slugs if slug not in found]
            if missing:
                raise CommandError("No such connection: " + ", ".join(missing) + ".")
            connections = [found[slug] for slug in dict.fromkeys(slugs)]
        else:
            connections = list(Connection.objects.exclude(idp_metadata_url="").order_by("slug"))
        failed = 0
        for connection in connections:
            if connection.from_settings and not slugs:
                if verbosity >= 2:
                    self.stdout.write(f"{connection.slug}: skipped (declared in settings).")
                continue
            try:
                result = refresh_connection(connection)
            except MetadataError as exc:
                failed += 1
                self.stderr.write(f"{connection.slug}: {exc}")
                continue
            if verbosity >= 2:
                self.stdout.write(result.describe())
        if failed:
            raise CommandError(
                f"{failed} of {len(connections)} connection(s) could not be refreshed.",
                returncode=1,
            )
