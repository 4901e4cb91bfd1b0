"""``manage.py verify_domain SLUG DOMAIN [--check]``: prove a domain for a connection by DNS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...domains import domain_challenge, verify_domain
from ...models import Connection


class Command(BaseCommand):
    help = (
        "Print the DNS TXT record that proves DOMAIN for the connection SLUG (the same record "
        "each time). With --check, look the record up and, when it is there, verify the "
        "domain for the connection; exits with status 1 when it is not verified."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="connection slug")
        parser.add_argument("domain", help="the e-mail domain, e.g. acme.com")
        parser.add_argument(
            "--check", action="store_true", help="look up the TXT record and verify the domain"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        connection = Connection.objects.filter(slug=options["slug"]).first()
        if connection is None:
            raise CommandError(f"No such connection: {options['slug']}.")
        try:
            challenge = domain_challenge(connection, options["domain"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not options["check"]:
            self.stdout.write(
                f"Add this DNS record, then run this command again with --check:\n"
                f"  name:  {challenge.record_name}\n"
                f"  type:  TXT\n"
                f"  value: {challenge.record_value}"
            )
            return
        result = verify_domain(connection, challenge.domain)
        if not result.verified:
            raise CommandError(result.message, returncode=1)
        self.stdout.write(result.message)
