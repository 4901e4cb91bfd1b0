"""Time the /Groups operations at size: a group of 50,000 members.

    python benchmarks/bench_groups.py [--members 50000] [--repeat 5]    # DATABASE=postgres too

Runs in-process with the test settings (``tests.settings``: SQLite in memory, or PostgreSQL with
``DATABASE=postgres``). Writes ``--members`` linked users in bulk (not through the core: the
users are the setting, the groups are measured), fills one group with all of them through the
core, then drives the /Groups views with Django's test client and a real bearer token:

- ``PATCH`` adding (then removing) 1 and 500 members: the same number of statements
  (a bulk insert split by SQLite's 999-parameter limit counted once);
- ``GET /Groups/{id}`` of the full group: every member streamed, the same queries as a group of
  3, peak memory (``tracemalloc``) that of a group a tenth the size (plus a margin);
- ``GET /Groups?excludedAttributes=members``, a ``PATCH`` rename of the full group, and Entra's
  membership probe ``id eq "g" and members[value eq "u"]`` (with ``excludedAttributes=members``
  as Entra sends it): the same queries as for a small
  group (the members are never loaded).

Prints, per request, the median and best time over ``--repeat`` runs, its statements and
status. Exits 1 when a request fails or a check does not hold.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.db import connection as db_connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    setup_test_environment,
    teardown_test_environment,
)

SCIM = "/scim/v2"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


def provision(count: int) -> tuple[Any, str, list[str]]:
    """A connection, a raw token, and *count* linked users written in bulk (their SCIM ids)."""
    from django.contrib.auth import get_user_model

    from django_provisioning.models import Connection, ExternalIdentity
    from django_provisioning.tokens import issue_token

    conn = Connection.objects.create(slug="bench", name="Bench", verified_domains=["bench.test"])
    _token, raw = issue_token(conn, name="bench")
    model = get_user_model()
    field = model.USERNAME_FIELD
    names = [f"user{n:06d}@bench.test" for n in range(count)]
    model.objects.bulk_create([model(**{field: name}) for name in names], batch_size=2000)
    rows = [
        ExternalIdentity(connection=conn, user_id=pk, user_name=name, user_name_normalized=name)
        for pk, name in model.objects.values_list("pk", field).iterator()
    ]
    ExternalIdentity.objects.bulk_create(rows, batch_size=2000)
    ids = [
        str(s) for s in ExternalIdentity.objects.order_by("pk").values_list("scim_id", flat=True)
    ]
    return conn, raw, ids


def statements(captured: CaptureQueriesContext) -> int:
    """Statements run, a bulk INSERT split by the driver's parameter limit counted once."""
    count, last = 0, None
    for query in captured.captured_queries:
        sql = query["sql"]
        insert = sql.split(" (", 1)[0] if sql.startswith("INSERT ") else None
        if insert is None or insert != last:
            count += 1
        last = insert
    return count


def consume(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def measure(call: Callable[[], Any], repeat: int) -> tuple[list[float], int, int, bytes]:
    """(durations in ms, statements of one call, status, body of the last call)."""
    with CaptureQueriesContext(db_connection) as captured:
        response = call()
        body = consume(response)
    n = statements(captured)
    durations = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = call()
        body = consume(response)
        durations.append((time.perf_counter() - start) * 1000)
    return durations, n, response.status_code, body


def peak_memory(client: Client, url: str) -> int:
    response = client.get(url)
    tracemalloc.start()
    try:
        for _chunk in response.streaming_content:
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def patch(client: Client, group: str, *operations: dict[str, Any]) -> Any:
    body = json.dumps({"schemas": [PATCH_OP], "Operations": list(operations)})
    return client.patch(f"{SCIM}/Groups/{group}", body, content_type="application/scim+json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=50_000, help="Members of the big group.")
    parser.add_argument("--repeat", type=int, default=5, help="Timed runs per request.")
    args = parser.parse_args(argv)
    size = max(args.members, 10_000)

    from django_provisioning import groups
    from django_provisioning.scim.group_rendering import STREAM_CHUNK

    setup_test_environment()
    old_name = db_connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        started = time.perf_counter()
        conn, token, ids = provision(size)
        setup_s = time.perf_counter() - started
        big = groups.create_group(conn, "Everyone")
        started = time.perf_counter()
        groups.add_group_members(big, ids)
        fill_s = time.perf_counter() - started
        # A group of several stream chunks, a tenth the size: memory must be the same.
        part_size = max(size // 10, 2 * STREAM_CHUNK)
        tenth = groups.create_group(conn, "Tenth")
        groups.add_group_members(tenth, ids[:part_size])
        small = groups.create_group(conn, "Few")
        groups.add_group_members(small, ids[:3])
        changing = groups.create_group(conn, "Changing")
        if db_connection.vendor == "postgresql":
            with db_connection.cursor() as cursor:
                cursor.execute("ANALYZE")  # as autovacuum would after the bulk writes
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        client.get(f"{SCIM}/Groups?count=1")  # warm up; token last_used_at written once
        vendor = db_connection.vendor
        print(f"{size} users written in {setup_s:.1f}s on {vendor}; the core added them all to")
        print(f"one group in {fill_s:.1f}s; {args.repeat} runs each")
        members = [{"value": i} for i in ids]

        def add_remove(n: int) -> Callable[[], Any]:
            def call() -> Any:
                patch(
                    client,
                    str(changing.scim_id),
                    {"op": "add", "path": "members", "value": members[:n]},
                )
                return patch(
                    client,
                    str(changing.scim_id),
                    {"op": "remove", "path": "members", "value": members[:n]},
                )

            return call

        probe = f'id eq "{big.scim_id}" and members[value eq "{ids[-1]}"]'
        small_probe = f'id eq "{small.scim_id}" and members[value eq "{ids[0]}"]'
        rename = 0

        def probe_call(text: str) -> Callable[[], Any]:
            # Entra's probe asks for no members.
            params = {"filter": text, "excludedAttributes": "members"}
            return lambda: client.get(f"{SCIM}/Groups", params)

        def renamer(group: Any) -> Callable[[], Any]:
            def call() -> Any:
                nonlocal rename
                rename += 1
                value = {"displayName": f"{group.display_name} {rename}"}
                return patch(client, str(group.scim_id), {"op": "replace", "value": value})

            return call

        cases: list[tuple[str, Callable[[], Any], int]] = [
            ("PATCH add+remove 1 member", add_remove(1), 204),
            ("PATCH add+remove 500 members", add_remove(500), 204),
            (
                f"GET /Groups/{{id}}, {size} members",
                lambda: client.get(f"{SCIM}/Groups/{big.scim_id}"),
                200,
            ),
            (
                "GET /Groups/{id}, 3 members",
                lambda: client.get(f"{SCIM}/Groups/{small.scim_id}"),
                200,
            ),
            (
                "GET /Groups?excludedAttributes=...",
                lambda: client.get(f"{SCIM}/Groups", {"excludedAttributes": "members"}),
                200,
            ),
            (f"PATCH rename, {size} members", renamer(big), 204),
            ("PATCH rename, 3 members", renamer(small), 204),
            (
                f"membership probe, {size}",
                probe_call(probe),
                200,
            ),
            (
                "membership probe, 3",
                probe_call(small_probe),
                200,
            ),
        ]
        print(f"{'request':<38} {'median ms':>10} {'best ms':>9} {'stmts':>6} {'status':>7}")
        failed = False
        counts: dict[str, int] = {}
        bodies: dict[str, bytes] = {}
        for label, call, expected in cases:
            durations, n, status, body = measure(call, args.repeat)
            counts[label], bodies[label] = n, body
            median = statistics.median(durations)
            print(f"{label:<38} {median:>10.2f} {min(durations):>9.2f} {n:>6} {status:>7}")
            failed |= status != expected
        got = json.loads(bodies[f"GET /Groups/{{id}}, {size} members"])
        checks = {
            "add/remove 1 and 500 members cost the same": counts["PATCH add+remove 1 member"]
            == counts["PATCH add+remove 500 members"],
            "the full group is read with the queries of a small one": counts[
                f"GET /Groups/{{id}}, {size} members"
            ]
            == counts["GET /Groups/{id}, 3 members"],
            "every member is returned": len(got.get("members", [])) == size,
            "a rename does not read the members": counts[f"PATCH rename, {size} members"]
            == counts["PATCH rename, 3 members"],
            "the membership probe finds the member": json.loads(
                bodies[f"membership probe, {size}"]
            )["totalResults"]
            == 1,
        }
        peak_big = peak_memory(client, f"{SCIM}/Groups/{big.scim_id}")
        peak_tenth = peak_memory(client, f"{SCIM}/Groups/{tenth.scim_id}")
        body_mb = len(bodies[cases[2][0]]) / 1e6
        print(f"peak memory streaming {size} members: {peak_big / 1e6:.2f} MB (the body is")
        print(f"{body_mb:.1f} MB); {part_size} members: {peak_tenth / 1e6:.2f} MB")
        checks["memory does not grow with the members"] = peak_big < peak_tenth * 1.25 + 100_000
        for name, ok in checks.items():
            print(f"{'ok  ' if ok else 'FAIL'} {name}")
            failed |= not ok
        return 1 if failed else 0
    finally:
        db_connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    sys.exit(main())
