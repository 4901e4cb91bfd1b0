from django.db import migrations

# PostgreSQL only: the indexes that serve the SCIM filter ``ew``. The compiler writes
# ``col LIKE '%abc'`` as ``REVERSE(col) LIKE 'cba%'`` there
# (django_provisioning.scim.filtering.patterns.ReversedEndsWith): a prefix search on a btree of
# the reversed column, in pattern order, costs what it matches. The trigram indexes of 0012
# served it too, but a common ending (``@example.com``) is in every row, so each of its trigrams
# has a posting list as long as the table. Other databases scan (docs/scim.rst).
# The reversed column alone, not (connection_id, ...): an index led by the connection would be
# a candidate for every query of a connection, and the planner could walk it under a filter
# (all of a connection's rows) where the pattern or unique index serves. The range of one
# reversed ending costs what it matches, across connections, then the connection is checked.
REVERSE_INDEXES = (
    # (index name, model, columns)
    (
        "dp_identity_username_rev",
        "externalidentity",
        "(REVERSE(user_name_normalized) text_pattern_ops)",
    ),
    (
        "dp_identity_externalid_rev",
        "externalidentity",
        "(REVERSE(external_id) text_pattern_ops)",
    ),
    (
        "dp_value_rev",
        "externalidentityvalue",
        "(REVERSE(value_normalized) text_pattern_ops)",
    ),
)


def create_reverse_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for name, model, columns in REVERSE_INDEXES:
        table = apps.get_model("django_provisioning", model)._meta.db_table
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {quote(name)} ON {quote(table)} {columns}"
        )


def drop_reverse_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _model, _columns in REVERSE_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [("django_provisioning", "0015_idp_metadata_url_untrusted")]

    operations = [
        migrations.RunPython(create_reverse_indexes, drop_reverse_indexes, elidable=False),
    ]
