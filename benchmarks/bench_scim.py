"""Time the SCIM read paths an identity provider hits most, and count their queries.

    python benchmarks/bench_scim.py [--users 200] [--repeat 30]      # or: tox -e bench

Runs in-process with the test settings (``tests.settings``: SQLite in memory, or PostgreSQL
with ``DATABASE=postgres``), provisions ``--users`` users through the provisioning core, then
drives the SCIM views with Django's test client and a real bearer token:

- ``GET /Users?count=10`` and ``GET /Users?count=100``: a page must cost the same number of
  queries whatever its size (no N+1);
- ``GET /Users/{id}``;
- ``GET /Users?filter=userName eq "..."`` (the lookup Okta and Entra make before every create;
  served by an index).

Prints, per request, the median and best time over ``--repeat`` runs and the query count.
Exits 1 if a request does not answer 200 or if the two page sizes cost different numbers of
queries.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.db import connection as db_connection  # noqa: E402
from django.db import reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import (  # noqa: E402
    CaptureQueriesContext,
    setup_test_environment,
    teardown_test_environment,
)

SCIM = "/scim/v2"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


def provision(count: int) -> tuple[Any, str, list[Any]]:
    """A connection, a raw token for it, and *count* users provisioned through the core."""
    from django_provisioning import provisioning
    from django_provisioning.models import Connection
    from django_provisioning.schema.definitions import USER_RESOURCE
    from django_provisioning.schema.document import canonicalize
    from django_provisioning.tokens import issue_token

    conn = Connection.objects.create(slug="bench", name="Bench", verified_domains=["bench.test"])
    _token, raw = issue_token(conn, name="bench")
    identities = []
    for n in range(count):
        body = {
            "schemas": [USER_SCHEMA],
            "userName": f"user{n:05d}@bench.test",
            "externalId": f"ext-{n:05d}",
            "name": {"givenName": f"Given{n}", "familyName": f"Family{n}"},
            "emails": [{"value": f"user{n:05d}@bench.test", "type": "work", "primary": True}],
            "active": True,
        }
        document, password = canonicalize(body, USER_RESOURCE)
        identities.append(provisioning.create_user(conn, document, password=password))
    return conn, raw, identities


def measure(client: Client, url: str, repeat: int) -> tuple[list[float], int, int]:
    """(durations in ms, query count of one request, status of the last response)."""
    client.get(url)  # warm up: URL resolution, adapter and schema caches
    # Django clears the query log when a request starts; start from an empty log so the
    # captured slice is this request's queries.
    reset_queries()
    with CaptureQueriesContext(db_connection) as queries:
        response = client.get(url)
    n_queries = len(queries.captured_queries)  # read now: the next request clears the log
    durations = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        durations.append((time.perf_counter() - start) * 1000)
    return durations, n_queries, response.status_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200, help="Users to provision (>= 100).")
    parser.add_argument("--repeat", type=int, default=30, help="Timed runs per request.")
    args = parser.parse_args(argv)
    users = max(args.users, 100)

    setup_test_environment()
    old_name = db_connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        started = time.perf_counter()
        _conn, token, identities = provision(users)
        setup_s = time.perf_counter() - started
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        middle = identities[len(identities) // 2]
        cases = [
            ("list page, count=10", f"{SCIM}/Users?count=10"),
            ("list page, count=100", f"{SCIM}/Users?count=100"),
            ("GET /Users/{id}", f"{SCIM}/Users/{middle.scim_id}"),
            (
                'filter=userName eq "..."',
                f'{SCIM}/Users?filter=userName eq "{middle.user_name}"',
            ),
            ('filter=externalId eq "..."', f'{SCIM}/Users?filter=externalId eq "ext-00042"'),
        ]
        vendor = db_connection.vendor
        print(f"{users} users provisioned in {setup_s:.1f}s on {vendor}; {args.repeat} runs each")
        print(f"{'request':<30} {'median ms':>10} {'best ms':>9} {'queries':>8} {'status':>7}")
        failed = False
        query_counts: dict[str, int] = {}
        for label, url in cases:
            durations, n_queries, status = measure(client, url, args.repeat)
            query_counts[label] = n_queries
            median = statistics.median(durations)
            print(f"{label:<30} {median:>10.2f} {min(durations):>9.2f} {n_queries:>8} {status:>7}")
            failed |= status != 200
        small, large = query_counts["list page, count=10"], query_counts["list page, count=100"]
        if small != large:
            print(f"N+1: a page of 100 costs {large} queries, a page of 10 costs {small}")
            failed = True
        if failed:
            print("FAIL")
            return 1
        print("OK: page cost is independent of page size")
        return 0
    finally:
        db_connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    sys.exit(main())
