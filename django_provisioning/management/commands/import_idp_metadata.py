"""Create or update a connection's SAML identity-provider settings from metadata XML: a file,
standard input, or a URL (which the connection then remembers, for ``refresh_idp_metadata``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from ...declared import is_retired, settings_connections
from ...models import Connection
from ...saml.fetch import fetch_metadata
from ...saml.metadata_import import MetadataError, apply_idp_metadata, parse_idp_metadata


class Command(BaseCommand):
    help = (
        "Read an identity provider's SAML metadata XML and write its entity id, SSO and SLO "
        "URLs (HTTP-Redirect) and all its signing certificates to the connection SLUG, "
        "creating the connection if it does not exist. Given a URL, the connection remembers "
        "it and refresh_idp_metadata fetches it again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="connection slug")
        parser.add_argument(
            "file",
            metavar="URL_OR_FILE",
            help="metadata URL (http:// or https://), XML file, or '-' for standard input",
        )
        parser.add_argument("--entity-id", help="the IdP to import when the file describes several")

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["slug"]
        source: str = options["file"]
        url = source.strip() if source.strip().lower().startswith(("http://", "https://")) else ""
        try:
            if url:
                xml = fetch_metadata(url, untrusted=False)
            elif source == "-":
                stdin = options.get("stdin") or sys.stdin
                data = stdin.read()
                xml = data.encode("utf-8") if isinstance(data, str) else data
            else:
                xml = Path(source).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {source}: {exc.strerror or exc}.") from exc
        except MetadataError as exc:
            raise CommandError(str(exc)) from exc
        try:
            metadata = parse_idp_metadata(xml, options.get("entity_id"))
        except MetadataError as exc:
            raise CommandError(str(exc)) from exc
        if slug in settings_connections():
            raise CommandError(
                f"Connection {slug!r} is declared in settings; change "
                "DJANGO_PROVISIONING['CONNECTIONS'] instead."
            )
        with transaction.atomic():
            connection = Connection.objects.select_for_update().filter(slug=slug).first()
            created = connection is None
            if connection is not None and is_retired(connection):
                raise CommandError(
                    f"Connection {slug!r} was declared in settings and has been removed from "
                    "them, so it is inactive; declare it in DJANGO_PROVISIONING['CONNECTIONS'] "
                    "again."
                )
            if connection is None:
                connection = Connection(slug=slug, name=slug)
            try:
                changed = apply_idp_metadata(connection, metadata)
            except MetadataError as exc:
                raise CommandError(str(exc)) from exc
            if url and connection.idp_metadata_url != url:
                connection.idp_metadata_url = url
                changed.append("idp_metadata_url")
            if url and connection.idp_metadata_url_untrusted:
                connection.idp_metadata_url_untrusted = False  # now the operator's URL
                changed.append("idp_metadata_url_untrusted")
            connection.full_clean()
            connection.save()
        verb = "Created" if created else ("Updated" if changed else "Unchanged:")
        self.stdout.write(
            f"{verb} connection {slug!r}: IdP {metadata.entity_id}, SSO {metadata.sso_url}, "
            f"SLO {metadata.slo_url or '-'}, {len(metadata.certificates)} signing "
            f"certificate(s)." + (f" Metadata URL remembered: {url}" if url else "")
        )
