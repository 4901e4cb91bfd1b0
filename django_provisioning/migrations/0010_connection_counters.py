"""Per-connection counts of users and groups (``ConnectionCounter``), initialised from the rows."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count


def count_existing(apps, schema_editor):
    """One counter row per connection, counted (live users: not SCIM-deleted)."""
    Connection = apps.get_model("django_provisioning", "Connection")
    ConnectionCounter = apps.get_model("django_provisioning", "ConnectionCounter")
    db = schema_editor.connection.alias
    ExternalIdentity = apps.get_model("django_provisioning", "ExternalIdentity")
    ExternalGroup = apps.get_model("django_provisioning", "ExternalGroup")
    users = dict(
        ExternalIdentity.objects.using(db)
        .filter(deleted_at=None)
        .values_list("connection_id")
        .annotate(n=Count("pk"))
    )
    groups = dict(
        ExternalGroup.objects.using(db).values_list("connection_id").annotate(n=Count("pk"))
    )
    ConnectionCounter.objects.using(db).bulk_create(
        [
            ConnectionCounter(connection_id=pk, users=users.get(pk, 0), groups=groups.get(pk, 0))
            for pk in Connection.objects.using(db).values_list("pk", flat=True)
        ],
        batch_size=500,
    )


class Migration(migrations.Migration):

    dependencies = [
        ("django_provisioning", "0009_single_logout"),
    ]

    operations = [
        migrations.CreateModel(
            name="ConnectionCounter",
            fields=[
                (
                    "connection",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="counter",
                        serialize=False,
                        to="django_provisioning.connection",
                    ),
                ),
                ("users", models.BigIntegerField(default=0, verbose_name="users")),
                ("groups", models.BigIntegerField(default=0, verbose_name="groups")),
            ],
            options={
                "verbose_name": "connection counter",
                "verbose_name_plural": "connection counters",
            },
        ),
        migrations.RunPython(count_existing, migrations.RunPython.noop, elidable=False),
    ]
