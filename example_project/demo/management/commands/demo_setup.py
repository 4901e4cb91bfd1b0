"""``manage.py demo_setup``: make the example project ready to try, and say what to do next.

Migrates the database; makes sure the two example organizations exist, each with its own
connection: ``demo`` (Demo customer, example.com), whose connection is declared in settings and
names the organization by its ``"tenant"`` key, and ``globex`` (Globex, globex.example), whose
connection is created in the database and pointed at by ``Organization.connection``, as a
SaaS's onboarding would do; both sign in through the development IdP (``devidp``).

Revokes the SCIM tokens earlier runs issued (named ``demo_setup``) and issues a fresh one for
each connection; creates an ``admin`` superuser with a random password, printed once (reset
it with ``tox -e manage -- demo_admin_password``). Prints the sign-in URL, each
organization's SCIM base URL and token, the admin login and a sample curl. ``tox -e demo``
runs it before ``runserver``. Demo only: the tokens and the password are printed in clear
(they are stored hashed, as always).
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
from typing import Any

from devidp.directory import DIRECTORY, idp_options
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_provisioning.connections import get_connection
from django_provisioning.models import Connection, ScimToken
from django_provisioning.tokens import issue_token, revoke_token

from ...models import Organization

SLUG = "demo"
#: The name of the SCIM tokens this command issues: each run revokes the earlier ones.
TOKEN_NAME = "demo_setup"
#: The second organization, and its connection created in the database (slug, name, domain).
SECOND = ("globex", "Globex", "globex.example")
SAMPLE_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "alice@example.com",
    "name": {"givenName": "Alice", "familyName": "Example"},
    "emails": [{"value": "alice@example.com", "type": "work", "primary": True}],
    "active": True,
}


class Command(BaseCommand):
    help = (
        "Migrate, ensure the two organizations and their connections, issue fresh SCIM tokens "
        "(revoking the previous ones) and print what to do next."
    )
    # runserver, which comes next, runs the system checks (and imports the URLconf); this
    # command needs neither, so a broken view cannot keep the database from being set up.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Host runserver listens on.")
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("DEMO_PORT") or 8000),
            help="Port runserver listens on (default: $DEMO_PORT, else 8000).",
        )
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
        # The declared connection names its organization ("tenant": "demo" in settings).
        demo, _created = Organization.objects.get_or_create(
            slug=SLUG, defaults={"name": "Demo customer"}
        )
        second, second_connection = self._ensure_second_organization()
        revoked = 0
        for token in ScimToken.objects.filter(
            connection__in=[connection, second_connection], name=TOKEN_NAME, revoked_at=None
        ):
            revoke_token(token)
            revoked += 1
        _token, raw = issue_token(connection, name=TOKEN_NAME)
        _second_token, second_raw = issue_token(second_connection, name=TOKEN_NAME)

        origin = f"http://{options['host']}:{options['port']}"
        base_url = f"{origin}/scim/v2/"
        admin_line = ""
        if not options["no_admin"]:
            admin_line = (
                f"  Admin site:     {origin}/admin/  ({self._ensure_admin()})\n"
                "                  (a new password: tox -e manage -- demo_admin_password)\n"
            )
        if origin != settings.DEMO_ORIGIN:
            self.stderr.write(
                f"Note: the development IdP is registered at {settings.DEMO_ORIGIN}; run with "
                f"DEMO_PORT={options['port']} (as tox -e demo does) for sign-in on this port."
            )
        auth = shlex.quote(f"Authorization: Bearer {raw}")
        body = shlex.quote(json.dumps(SAMPLE_USER, separators=(",", ":")))
        people = ", ".join(person.email for slug in DIRECTORY for person in DIRECTORY[slug])
        self.stdout.write(
            f"\nDemo ready. Database: {settings.DATABASES['default']['NAME']}\n\n"
            f"  Sign in:        {origin}/signin/  (a work e-mail: {people})\n"
            f"  Home page:      {origin}/\n"
            f"{admin_line}"
            "\nTwo organizations, each with its own connection and identity provider (the\n"
            f"development IdP at {origin}/devidp/, DEBUG only); the users a connection's token\n"
            "provisions (or its SAML sign-in creates) become members of its organization.\n"
            f"SCIM tokens issued by earlier runs: {revoked} revoked; the new ones:\n\n"
            + _organization(demo, connection, "declared in settings", origin, raw)
            + "\n"
            + _organization(second, second_connection, "in the database", origin, second_raw)
            + "\nTry (as Demo customer):\n"
            f"  curl -H {auth} {base_url}Users\n"
            f"  curl -H {auth} -H 'Content-Type: application/scim+json' \\\n"
            f"       -d {body} {base_url}Users\n"
        )

    def _ensure_second_organization(self) -> tuple[Organization, Connection]:
        """The second organization and its connection, created in the database once.

        The connection is pointed at the development IdP on every run: its URLs follow
        ``DEMO_ORIGIN`` (the port) and its certificate the key pair in ``DEVIDP_KEY_DIR``.
        """
        slug, name, domain = SECOND
        connection, _created = Connection.objects.get_or_create(
            slug=slug, defaults={"name": name, "verified_domains": [domain]}
        )
        for field, value in idp_options(settings.DEVIDP_ORIGIN, slug, settings.DEVIDP_CERT).items():
            setattr(connection, field, value)
        connection.save()
        organization, _created = Organization.objects.get_or_create(
            slug=slug, defaults={"name": name, "connection": connection}
        )
        if organization.connection_id != connection.pk:
            organization.connection = connection
            organization.save(update_fields=["connection"])
        return organization, connection

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


def _organization(
    organization: Organization, connection: Connection, where: str, origin: str, token: str
) -> str:
    """The lines that tell an organization's IdP admin where to point SCIM and SAML."""
    sso = f"{origin}/sso/{connection.slug}"
    return (
        f"  Organization:   {organization.name} (connection {connection.slug}, {where})\n"
        f"  SCIM base URL:  {origin}/scim/v2/\n"
        f"  Bearer token:   {token}\n"
        f"  SAML metadata:  {sso}/metadata/  (ACS: {sso}/acs/)\n"
    )
