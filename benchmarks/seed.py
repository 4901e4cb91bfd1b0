"""Load N users (and their groups) into the example project's database, in bulk.

    python benchmarks/seed.py --users 100000 [--groups G] [--database sqlite|postgres]
                              [--path FILE.sqlite3] [--pgdatabase NAME] [--token-file FILE]

Writes the rows the provisioning core writes when an identity provider creates the users and
groups over SCIM, into the same tables, computed by the same functions (the adapter's
``new_user``/``populate_user``/``user_to_document``/``normalize_user_name`` and
``local_group_name``, :func:`django_provisioning.value_index.value_rows`,
:func:`django_provisioning.schema.document.canonicalize`): per user, the host user row, its
``UserNameClaim``, the ``ExternalIdentity`` link row (document, normalised userName,
externalId), its value-index rows, the tenant ``Membership`` of the example project and the
``create`` audit event; per group, the ``auth.Group`` it owns, the ``ExternalGroup`` row, the
memberships (the user model's groups table) with their ``GroupGrant`` rows and the
``group_create``/``group_members`` audit events. ``tests/test_bench_seed.py`` checks that SCIM
reads the seeded users and groups exactly as it reads ones created through the core.

Rows go in with ``COPY`` on PostgreSQL (the tables' secondary indexes dropped meanwhile and
built again after, foreign keys not checked row by row: :func:`bulk_load`; then the sequences
are moved past the rows and the tables vacuumed and ``ANALYZE``\\ d, as autovacuum would)
and with ``executemany`` on SQLite, each column's value prepared by its model field
(``get_db_prep_save``), as the ORM would. The data are
deterministic (``--seed``): user *i* is ``user{i:07d}@example.com``, externalId
``ext-{i:07d}``, a work e-mail equal to the userName and, for a third of them, a home e-mail.
Groups: one per 50 users by default, sizes skewed (group *k* has about ``N / 10 / (k+1)``
members, at least 2, so the first groups hold 10% and 5% of everyone: 100,000 at a million).

The database is the benchmark's (``benchmarks/bench_settings.py``): created and migrated when
missing, emptied of a previous seed first (a SQLite file is deleted; a PostgreSQL database
dropped and created again).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GIVEN = ["Ada", "Alan", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Tim"]
FAMILY = ["Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie"]
TITLES = ["Engineer", "Manager", "Analyst", "Designer", "Director", "Support", "Sales", ""]
DOMAIN = "example.com"
CHUNK = 10_000
#: Field classes whose database value is the attribute itself (``get_db_prep_save`` is the
#: identity for them on SQLite and PostgreSQL).
_PLAIN_FIELDS = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "BigIntegerField",
        "BooleanField",
        "CharField",
        "EmailField",
        "ForeignKey",
        "IntegerField",
        "PositiveIntegerField",
        "SlugField",
        "TextField",
    }
)


def user_name(i: int) -> str:
    return f"user{i:07d}@{DOMAIN}"


def external_id(i: int) -> str:
    return f"ext-{i:07d}"


def user_body(i: int) -> dict[str, Any]:
    """The SCIM body an identity provider would POST for user *i* (deterministic)."""
    given, family = GIVEN[i % len(GIVEN)], FAMILY[(i // len(GIVEN)) % len(FAMILY)]
    emails: list[dict[str, Any]] = [{"value": user_name(i), "type": "work", "primary": True}]
    if i % 3 == 0:
        emails.append({"value": f"{given}.{family}.{i}@home.example.org".lower(), "type": "home"})
    body: dict[str, Any] = {
        "schemas": [USER_SCHEMA],
        "userName": user_name(i),
        "externalId": external_id(i),
        "name": {"givenName": given, "familyName": family, "formatted": f"{given} {family}"},
        "displayName": f"{given} {family}",
        "emails": emails,
        "active": True,
    }
    title = TITLES[i % len(TITLES)]
    if title:
        body["title"] = title
    return body


def group_sizes(users: int, groups: int) -> list[int]:
    """Skewed sizes: group k has about users / 10 / (k + 1) members (at least 2)."""
    return [min(users, max(2, users // (10 * (k + 1)))) for k in range(groups)]


class Writer:
    """Inserts model instances in bulk with their primary keys assigned here (so rows can
    point at rows of the same batch): ``COPY`` on PostgreSQL, ``executemany`` on SQLite."""

    def __init__(self) -> None:
        from django.db import DEFAULT_DB_ALIAS, connections

        # The wrapper itself, not the django.db.connection proxy (a lookup per attribute).
        self.connection = connections[DEFAULT_DB_ALIAS]
        self.next_pk: dict[Any, int] = {}
        self.models: list[Any] = []
        self.rows: dict[str, int] = {}

    def pk(self, model: Any) -> int:
        """The next free primary key of *model*, reserved."""
        if model not in self.next_pk:
            with self.connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT COALESCE(MAX({model._meta.pk.column}), 0) FROM {model._meta.db_table}"
                )
                self.next_pk[model] = cursor.fetchone()[0] + 1
            self.models.append(model)
        value = self.next_pk[model]
        self.next_pk[model] = value + 1
        return value

    def insert(self, model: Any, objs: Sequence[Any]) -> None:
        if not objs:
            return
        for obj in objs:
            if obj.pk is None:
                obj.pk = self.pk(model)
        name = model._meta.label
        self.rows[name] = self.rows.get(name, 0) + len(objs)
        conn = self.connection
        fields = model._meta.concrete_fields
        columns = ", ".join(self.connection.ops.quote_name(f.column) for f in fields)
        table = self.connection.ops.quote_name(model._meta.db_table)
        # Text, integer and boolean columns go as they are (their preparation is the
        # identity); the others (JSON, UUID, dates) through the field, as the ORM does.
        plain = [type(f).__name__ in _PLAIN_FIELDS for f in fields]
        names = [f.attname for f in fields]
        rows = (
            [
                getattr(obj, name) if simple else f.get_db_prep_save(getattr(obj, name), conn)
                for f, name, simple in zip(fields, names, plain, strict=True)
            ]
            for obj in objs
        )
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(fields))
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)

    def finish(self) -> None:
        """Move the sequences past the rows written (PostgreSQL) and ``VACUUM ANALYZE``, as
        autovacuum would after a bulk insert: the statistics, and the visibility map without
        which the planner prices an index-only scan (a deep page's keys) as heap reads."""
        if self.connection.vendor != "postgresql":
            return
        from django.core.management.color import no_style

        with self.connection.cursor() as cursor:
            for sql in self.connection.ops.sequence_reset_sql(no_style(), self.models):
                cursor.execute(sql)
            # VACUUM cannot run in a transaction (a caller's, such as a test's): ANALYZE then.
            cursor.execute("ANALYZE" if self.connection.in_atomic_block else "VACUUM ANALYZE")


@contextmanager
def bulk_load(connection: Any, models: Sequence[Any]) -> Iterator[None]:
    """PostgreSQL, inside the seed's transaction: the tables' secondary indexes dropped while
    rows go in and built again after (a bulk build of a trigram GIN index costs a fraction of
    maintaining it row by row), and, for a superuser, foreign keys not checked row by row
    (``session_replication_role = replica``: the rows are built consistent; the checks were
    queued to the commit, one trigger event each). Indexes that back a constraint (primary
    keys, unique constraints) stay, and the settings changed are set back after (the seed's
    transaction may be a savepoint of the caller's, which ``SET LOCAL`` would outlive).
    Elsewhere nothing changes."""
    if connection.vendor != "postgresql":
        yield
        return
    tables = [connection.ops.quote_name(model._meta.db_table) for model in models]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = ANY(%s::regclass[]) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
            [tables],
        )
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        superuser = bool(cursor.fetchone()[0])
        changed = {"maintenance_work_mem": "512MB"}
        if superuser:
            changed["session_replication_role"] = "replica"
        cursor.execute(
            "SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name", [list(changed)]
        )
        previous = cursor.fetchall()
        for name, value in changed.items():
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
    yield
    with connection.cursor() as cursor:
        for name, value in previous:
            cursor.execute("SELECT set_config(%s, %s, true)", [name, value])
        for _name, definition in indexes:
            cursor.execute(definition)


def _chunks(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(total, start + size))


def seed(
    users: int,
    groups: int | None = None,
    *,
    connection_slug: str = "demo",
    connection: Any = None,
    seed_value: int = 1,
    progress: bool = False,
    bulk: bool = False,
) -> dict[str, Any]:
    """Write *users* users and *groups* groups (default users // 50) for *connection* (a
    ``Connection``), else the connection *connection_slug* (a declared one's row made once).
    *bulk*: load with :func:`bulk_load` (the command line's default).

    Returns what it wrote: ``{"connection": ..., "users": ..., "groups": ..., "rows": {model
    label: count}, "seconds": ...}``. Runs in the caller's database (Django set up).
    """
    from django.apps import apps
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import transaction
    from django.utils import timezone

    from django_provisioning import counters
    from django_provisioning.adapter import get_adapter
    from django_provisioning.connections import get_connection
    from django_provisioning.models import (
        AuditEvent,
        ExternalGroup,
        ExternalIdentity,
        ExternalIdentityValue,
        GroupGrant,
        UserNameClaim,
    )
    from django_provisioning.schema.definitions import USER_RESOURCE
    from django_provisioning.schema.document import canonicalize
    from django_provisioning.value_index import value_rows

    started = time.perf_counter()
    groups = users // 50 if groups is None else groups
    adapter = get_adapter()
    if connection is None:
        connection = get_connection(connection_slug)
    if connection is None:
        raise SystemExit(f"no connection {connection_slug!r}")
    membership_model = None
    tenant = None
    if apps.is_installed("demo"):
        organization = apps.get_model("demo", "Organization")
        membership_model = apps.get_model("demo", "Membership")
        organization.objects.get_or_create(slug=connection_slug, defaults={"name": "Bench"})
    tenant = adapter.get_tenant(connection)
    user_model = get_user_model()
    writer = Writer()
    base = timezone.now() - timedelta(seconds=users + groups + 60)
    user_pks: list[int] = []
    m2m = getattr(user_model, "groups", None)
    through = m2m.through if m2m is not None else None
    written_models = [user_model, UserNameClaim, ExternalIdentity, ExternalIdentityValue]
    written_models += [AuditEvent, Group, ExternalGroup, GroupGrant]
    written_models += [m for m in (membership_model, through) if m is not None]
    loading = bulk_load(writer.connection, written_models) if bulk else nullcontext()
    with transaction.atomic(), loading:
        for chunk in _chunks(users, CHUNK):
            new_users, identities, values, claims, audits, members = [], [], [], [], [], []
            for i in chunk:
                when = base + timedelta(milliseconds=i)
                document, _password = canonicalize(user_body(i), USER_RESOURCE)
                user = adapter.new_user(connection, document)
                adapter.populate_user(user, document, connection)
                user.pk = writer.pk(user_model)
                if hasattr(user, "date_joined"):
                    user.date_joined = when
                new_users.append(user)
                user_pks.append(user.pk)
                local = adapter.normalize_user_name(str(getattr(user, user_model.USERNAME_FIELD)))
                claims.append(UserNameClaim(user_name_normalized=local, user=user, created_at=when))
                if membership_model is not None and tenant is not None:
                    members.append(
                        membership_model(user=user, organization=tenant, created_at=when)
                    )
                identity = ExternalIdentity(
                    pk=writer.pk(ExternalIdentity),
                    connection=connection,
                    user=user,
                    document=document,
                    user_name=str(document["userName"]),
                    user_name_normalized=adapter.normalize_user_name(str(document["userName"])),
                    external_id=document.get("externalId") or None,
                    created_at=when,
                    updated_at=when,
                )
                identities.append(identity)
                written = adapter.user_to_document(user, document, connection)
                values.extend(value_rows(identity, written))
                audits.append(
                    AuditEvent(
                        connection=connection,
                        source="scim",
                        action="create",
                        user=user,
                        target=str(identity.scim_id),
                        detail={"userName": identity.user_name},
                        created_at=when,
                    )
                )
            writer.insert(user_model, new_users)
            writer.insert(UserNameClaim, claims)
            if membership_model is not None:
                writer.insert(membership_model, members)
            writer.insert(ExternalIdentity, identities)
            writer.insert(ExternalIdentityValue, values)
            writer.insert(AuditEvent, audits)
            if progress:
                print(f"  users: {chunk.stop:,}", file=sys.stderr, flush=True)

        rng = random.Random(seed_value)
        if m2m is not None:
            user_column = f"{m2m.field.m2m_field_name()}_id"
            group_column = f"{m2m.field.m2m_reverse_field_name()}_id"
        sizes = group_sizes(users, groups)
        for chunk in _chunks(groups, 1000):
            local_groups, rows, grants, links, audits = [], [], [], [], []
            for k in chunk:
                when = base + timedelta(milliseconds=users + k)
                row = ExternalGroup(
                    pk=writer.pk(ExternalGroup),
                    connection=connection,
                    display_name=f"Group {k:06d}",
                    external_id=f"grp-{k:06d}",
                    document={"displayName": f"Group {k:06d}"},
                    owns_group=True,
                    created_at=when,
                    updated_at=when,
                )
                group = Group(pk=writer.pk(Group), name=adapter.local_group_name(connection, row))
                row.group = group
                local_groups.append(group)
                rows.append(row)
                chosen = sorted(rng.sample(user_pks, min(sizes[k], len(user_pks))))
                for user_pk in chosen:
                    grants.append(
                        GroupGrant(
                            external_group=row, user_id=user_pk, source="scim", created_at=when
                        )
                    )
                    if through is not None:
                        links.append(through(**{group_column: group.pk, user_column: user_pk}))
                target = str(row.scim_id)
                name = row.display_name
                audits.append(
                    AuditEvent(
                        connection=connection,
                        source="scim",
                        action="group_create",
                        target=target,
                        detail={"displayName": name, "created_local_group": True},
                        created_at=when,
                    )
                )
                if chosen:
                    audits.append(
                        AuditEvent(
                            connection=connection,
                            source="scim",
                            action="group_members",
                            target=target,
                            detail={"displayName": name, "granted": len(chosen), "revoked": 0},
                            created_at=when,
                        )
                    )
            writer.insert(Group, local_groups)
            writer.insert(ExternalGroup, rows)
            if through is not None:
                writer.insert(through, links)
            writer.insert(GroupGrant, grants)
            writer.insert(AuditEvent, audits)
            if progress:
                print(f"  groups: {chunk.stop:,}", file=sys.stderr, flush=True)
    # Link rows written past the app: the counter row that unfiltered totalResults read is
    # recomputed, as ``manage.py recount_connections`` does after a bulk load.
    counters.recount(connection)
    writer.finish()
    return {
        "connection": connection,
        "users": users,
        "groups": groups,
        "rows": writer.rows,
        "seconds": time.perf_counter() - started,
    }


def configure(database: str, path: str | None, pgdatabase: str | None) -> None:
    """Point ``benchmarks.bench_settings`` at the database (before Django is set up)."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.bench_settings"
    os.environ["BENCH_DATABASE"] = database
    if path:
        os.environ["BENCH_SQLITE"] = str(Path(path).resolve())
    if pgdatabase:
        os.environ["BENCH_PGDATABASE"] = pgdatabase


def recreate_database(database: str) -> None:
    """An empty database: the SQLite file deleted, the PostgreSQL database dropped and made."""
    if database == "postgres":
        import psycopg

        name = os.environ.get("BENCH_PGDATABASE", "bench_dp")
        with psycopg.connect(
            host=os.environ.get("PGHOST", "127.0.0.1"),
            port=os.environ.get("PGPORT", "5432"),
            user=os.environ.get("PGUSER", "postgres"),
            password=os.environ.get("PGPASSWORD", ""),
            dbname="postgres",
            autocommit=True,
        ) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    else:
        path = Path(os.environ["BENCH_SQLITE"])
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=None, help="default: users // 50")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--path", help="SQLite file (default benchmarks/.data/bench.sqlite3)")
    parser.add_argument("--pgdatabase", help="PostgreSQL database (default bench_dp)")
    parser.add_argument("--connection", default="demo", help="connection slug (declared)")
    parser.add_argument("--token-file", help="write a new bearer token of the connection here")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    configure(args.database, args.path, args.pgdatabase)
    recreate_database(args.database)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    result = seed(
        args.users,
        args.groups,
        connection_slug=args.connection,
        seed_value=args.seed,
        progress=True,
        bulk=True,
    )
    if args.token_file:
        from django_provisioning.tokens import issue_token

        _token, raw = issue_token(result["connection"], name="bench")
        Path(args.token_file).write_text(raw)
    rows = ", ".join(f"{label} {count:,}" for label, count in sorted(result["rows"].items()))
    print(
        f"seeded {result['users']:,} users and {result['groups']:,} groups on {args.database} "
        f"in {result['seconds']:.1f}s ({rows})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
