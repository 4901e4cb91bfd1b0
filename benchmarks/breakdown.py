"""Where a single-user SCIM request's time goes: the milliseconds each property costs.

    python benchmarks/breakdown.py [--size 20000] [--requests 300] [--reuse]

Seeds (or, with ``--reuse``, reuses) ``run.py``'s SQLite database of ``--size`` users, then
works in-process: Django's test client on ``benchmarks/bench_settings.py`` (the example
project), no HTTP. For each single-user operation that ``compare_scim2.py`` times against
django-scim2 (GET by id, the filters, POST, PUT, PATCH, DELETE) it measures the p50 of
``--requests`` requests, then runs them again under ``cProfile`` and prints, for each
property of ours that costs time (:data:`PROPERTIES`: the bearer-token check, the uniqueness
lookups, the link row, the value index, the audit row, ...), its cumulative time as a share of
the request's, times the p50: the milliseconds it costs. What is left is Django, Django REST
framework, parsing and rendering.

A deterministic profiler weighs Python-heavy work (the ORM) a little more than the database's
own, so read the figures as shares of the request, to a tenth of a millisecond or so.
``docs/performance.rst`` quotes them, beside django-scim2's p50s.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = ROOT / "benchmarks"
sys.path.insert(0, str(HERE))

import compare_scim2  # noqa: E402
import run  # noqa: E402

#: (label, [(file suffix, function), ...] added, [...] subtracted): the code that buys one
#: property. Cumulative times, so a function nested in another is subtracted from it.
PROPERTIES: list[tuple[str, list[tuple[str, str]], list[tuple[str, str]]]] = [
    (
        "bearer token (hash, expiry, revocation)",
        [("django_provisioning/tokens.py", "check_token")],
        [],
    ),
    ("link row read (scoped to the connection)", [("scim/views.py", "get_identity")], []),
    (
        "transaction (BEGIN IMMEDIATE, COMMIT)",
        [("django/db/transaction.py", "__enter__"), ("django/db/transaction.py", "__exit__")],
        [],
    ),
    ("locks (link row, then user)", [("django_provisioning/locks.py", "lock_identity")], []),
    (
        "userName free in the connection",
        [("django_provisioning/records.py", "take_user_name")],
        [],
    ),
    (
        "local username free (claims, user table)",
        [("django_provisioning/adapter.py", "find_user_by_user_name")],
        [],
    ),
    ("user row", [("django_provisioning/records.py", "save_user")], []),
    ("username claim", [("django_provisioning/claims.py", "claim")], []),
    (
        "link row write (document, version)",
        [("django_provisioning/records.py", "write_identity")],
        [("django_provisioning/value_index.py", "index_values")],
    ),
    ("value index (filters)", [("django_provisioning/value_index.py", "index_values")], []),
    (
        "sessions ended (deactivation)",
        [("django_provisioning/sessions.py", "end_user_sessions")],
        [],
    ),
    ("audit row", [("django_provisioning/records.py", "audit")], []),
    ("counter row (totalResults)", [("django_provisioning/counters.py", "apply")], []),
    ("groups of the user (response)", [("scim/rendering.py", "groups_of_users")], []),
    (
        "the example project's tenant hooks",
        [("demo/adapter.py", "get_tenant"), ("demo/adapter.py", "attach_user_to_tenant")],
        [],
    ),
    (
        "filter parsed (SCIM filter to SQL)",
        [("scim/views.py", "filter_queryset"), ("scim/lookup.py", "key_lookup")],
        [],
    ),
    (
        "matches read at once (a lookup by userName, externalId or e-mail)",
        [("scim/lookup.py", "few_matches")],
        [],
    ),
    ("count of the matches (totalResults)", [("django/db/models/query.py", "count")], []),
    ("page keys (the filter's index)", [("scim/paging.py", "page_keys")], []),
]
REQUEST = ("django/core/handlers/base.py", "get_response")


class InProcessClient:
    """``run.Client``'s ``request``, through Django's test client (no HTTP): so that
    ``compare_scim2.user_ops`` defines the requests measured here too."""

    def __init__(self, token: str, prefix: str = "/scim/v2") -> None:
        from django.test import Client

        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_HOST="127.0.0.1")
        self.prefix = prefix

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> run.Response:
        started = time.perf_counter()
        response = self.client.generic(
            method,
            self.prefix + path,
            data=b"" if body is None else json.dumps(body).encode(),
            content_type="application/scim+json",
            headers={"Accept": "application/scim+json", **(headers or {})},
        )
        ms = (time.perf_counter() - started) * 1000
        headers = {key.lower(): value for key, value in response.headers.items()}
        return run.Response(response.status_code, response.content, headers, ms)


def cumulative(stats: pstats.Stats, suffix: str, function: str) -> float:
    total = 0.0
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        if name == function and filename.replace(os.sep, "/").endswith(suffix):
            total += row[3]  # cumulative time (recursion counted once)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--reuse", action="store_true", help="reuse the database seeded before")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a property's code was never reached"
    )
    args = parser.parse_args(argv)
    run.DATA.mkdir(parents=True, exist_ok=True)
    token = run.prepare("sqlite", args.size, args.reuse)
    os.environ.update(run.bench_env("sqlite", args.size))
    for path in (str(ROOT), str(ROOT / "example_project")):
        sys.path.insert(0, path)

    import django

    django.setup()
    client = InProcessClient(token)
    n = args.requests
    ops = compare_scim2.user_ops(client, args.size, 2 * n, f"bd{os.getpid()}")  # type: ignore[arg-type]
    print(f"\nin-process, {args.size:,} users, SQLite, {n} requests per operation (ms)")
    reached: set[str] = set()
    for op in ops:
        name = op.name
        before = getattr(op, "before", None)
        if before is not None:
            before(2 * n)  # DELETE: finds the users POST created, for both passes
        times = []
        for j in range(n):
            response = client.request(*op.make(j))
            times.append(response.ms)
            assert response.status in op.expect, (name, response.status, response.body[:300])
        p50 = statistics.median(times)
        profile = cProfile.Profile()
        for j in range(n, 2 * n):
            method, path, body = op.make(j)
            profile.enable()
            client.request(method, path, body)
            profile.disable()
        stats = pstats.Stats(profile)
        whole = cumulative(stats, *REQUEST)
        print(f"\n{name}: p50 {p50:.2f} ms, queries {response.headers.get('x-bench-queries')}")
        accounted = 0.0
        for label, plus, minus in PROPERTIES:
            spent = sum(cumulative(stats, *f) for f in plus) - sum(
                cumulative(stats, *f) for f in minus
            )
            if spent <= 0 or not whole:
                continue
            reached.add(label)
            share = spent / whole
            accounted += share
            print(f"  {label:<44} {share * p50:6.2f}  {share:5.1%}")
        print(
            f"  {'the rest (Django, DRF, parsing, rendering)':<44} "
            f"{(1 - accounted) * p50:6.2f}  {1 - accounted:5.1%}"
        )
    # A property no request reached: its functions were renamed or moved (or it is gone).
    lost = [label for label, _plus, _minus in PROPERTIES if label not in reached]
    for label in lost:
        print(f"NOT REACHED: {label} (update PROPERTIES)")
    return 1 if lost and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
