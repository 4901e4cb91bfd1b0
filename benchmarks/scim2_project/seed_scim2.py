"""Seed django-scim2's database with the benchmark's users (benchmarks/seed.py's generator).

    SCIM2_DB=/tmp/x.sqlite3 python seed_scim2.py USERS      (in the django-scim2 virtualenv)

Writes, with ``bulk_create``, what django-scim2 writes on a SCIM POST of the same body:
username, names, e-mail, ``scim_external_id``, ``scim_username`` and ``scim_id`` (its pk,
as ``set_scim_id`` sets it), an unusable password; plus the service account.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "scim2_project.settings"  # not the caller's (tox sets one)

import django  # noqa: E402

django.setup()

import seed as seeding  # noqa: E402  (benchmarks/seed.py: stdlib-only at import)
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402


def main() -> None:
    users = int(sys.argv[1])
    call_command("migrate", run_syncdb=True, verbosity=0)
    model = get_user_model()
    model.objects.create(username="scim-service", is_superuser=True, is_staff=True)
    batch = []
    with transaction.atomic():
        for i in range(users):
            body = seeding.user_body(i)
            user = model(
                pk=i + 2,
                scim_id=str(i + 2),
                username=body["userName"],
                scim_username=body["userName"],
                first_name=body["name"]["givenName"],
                last_name=body["name"]["familyName"],
                email=body["emails"][0]["value"],
                scim_external_id=body["externalId"],
                is_active=True,
            )
            user.set_unusable_password()
            batch.append(user)
            if len(batch) == 5000:
                model.objects.bulk_create(batch)
                batch = []
        model.objects.bulk_create(batch)
    print(f"seeded {users} users")


if __name__ == "__main__":
    main()
