"""The example opts in to the ``UPPER()`` indexes on ``auth_user`` that SCIM creates look up by
(docs/scim.rst, "Lookups in your user table"): on PostgreSQL only; on SQLite it does nothing."""

from django.conf import settings
from django.db import migrations

from django_provisioning.user_indexes import AddUserLookupIndexes


class Migration(migrations.Migration):
    dependencies = [
        ("demo", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [AddUserLookupIndexes()]
