"""``manage.py demo_admin_password``: give the demo's ``admin`` a new random password, shown once.

The demo prints the admin password only when it creates the user; this is how to get a new
one without a prompt (``tox -e manage -- demo_admin_password``, beside the running demo).
``changepassword admin`` works too, interactively.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Set a new random password for the demo's admin user and print it once."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        model = get_user_model()
        user = model._default_manager.filter(**{model.USERNAME_FIELD: "admin"}).first()
        if user is None:
            raise CommandError("No user admin: run tox -e demo (or demo_setup) first.")
        password = secrets.token_urlsafe(12)
        user.set_password(password)
        user.save(update_fields=["password"])
        self.stdout.write(f"New password of admin (shown once): {password}")
