"""``manage.py demo_setup``: make the example project ready to try, and say how.

Migrates the database, makes sure the ``demo`` connection (declared in settings) has its row,
issues a fresh SCIM bearer token for it, creates an ``admin`` superuser with a random
password (printed once) for the admin site, and prints the SCIM base URL, the token and a
sample curl. ``tox -e demo`` runs it before ``runserver``. Demo only: the token and the
password are printed in clear.
"""

from __future__ import annotations

import json
import secrets
import shlex
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_provisioning.connections import get_connection
from django_provisioning.tokens import issue_token

SLUG = "demo"
SAMPLE_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "alice@example.com",
    "name": {"givenName": "Alice", "familyName": "Example"},
    "emails": [{"value": "alice@example.com", "type": "work", "primary": True}],
    "active": True,
}


class Command(BaseCommand):
    help = "Migrate, ensure the demo connection, issue a SCIM token and print how to use it."
    # runserver, which comes next, runs the system checks (and imports the URLconf); this
    # command needs neither, so a broken view cannot keep the database from being set up.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Host runserver listens on.")
        parser.add_argument("--port", type=int, default=8000, help="Port runserver listens on.")
        parser.add_argument(
            "--no-admin", action="store_true", help="Do not create the admin superuser."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        connection = get_connection(SLUG)
        if connection is None:
            raise CommandError(
                f"No connection {SLUG!r}: declare it in DJANGO_PROVISIONING['CONNECTIONS']."
            )
        _token, raw = issue_token(connection, name="demo_setup")

        origin = f"http://{options['host']}:{options['port']}"
        base_url = f"{origin}/scim/v2/"
        admin_line = ""
        if not options["no_admin"]:
            admin_line = f"  Admin site:     {origin}/admin/  ({self._ensure_admin()})\n"
        auth = shlex.quote(f"Authorization: Bearer {raw}")
        body = shlex.quote(json.dumps(SAMPLE_USER, separators=(",", ":")))
        self.stdout.write(
            f"\nDemo ready. Database: {settings.DATABASES['default']['NAME']}\n\n"
            f"  SCIM base URL:  {base_url}\n"
            f"  Bearer token:   {raw}\n"
            f"{admin_line}"
            f"  Home page:      {origin}/  (SSO sign-in link: {origin}/sso/{SLUG}/login/)\n"
            f"  SAML metadata:  {origin}/sso/{SLUG}/metadata/  (ACS: {origin}/sso/{SLUG}/acs/)\n"
            "\nTry:\n"
            f"  curl -H {auth} {base_url}Users\n"
            f"  curl -H {auth} -H 'Content-Type: application/scim+json' \\\n"
            f"       -d {body} {base_url}Users\n"
        )

    def _ensure_admin(self) -> str:
        model = get_user_model()
        username_field = model.USERNAME_FIELD
        if model._default_manager.filter(**{username_field: "admin"}).exists():
            return "user admin exists; password unchanged"
        password = secrets.token_urlsafe(12)
        model._default_manager.create_superuser(  # type: ignore[attr-defined]
            **{username_field: "admin"}, email="admin@example.com", password=password
        )
        return f"user admin, password {password} (shown once)"
