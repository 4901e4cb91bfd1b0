"""Time PATCH requests at the work limit (``SCIM_PATCH_MAX_WORK``), and one unit over it.

    python benchmarks/bench_patch.py [--repeat 20] [--limit N] [--emails 999]

Runs in-process with the test settings (``tests.settings``: SQLite in memory, or PostgreSQL
with ``DATABASE=postgres``). A user is provisioned with ``--emails`` e-mail addresses (999:
the issue's user), one with half as many and one with 5; then, for each shape of PATCH below,
the body with the most operations whose counted work stays within the limit is sent
``--repeat`` times through Django's test client with a real bearer token (each run but the
``remove`` changes the user, so it writes), and the same shape one operation longer must
answer ``400 tooMany``:

- ``replace emails[value eq "..."].display`` on the 999-e-mail user (the issue's request);
- the same with 40-term and 100-term value filters (``value eq "a" or value eq "b" ...``);
- ``replace emails.display`` (every element, no filter);
- ``add emails`` (one new value each, on the user with half as many e-mails);
- ``remove emails`` with a list of values compared sub-attribute by sub-attribute;
- a no-path ``replace`` whose value carries the whole ``emails`` list;
- 100-term filters on the 5-e-mail user (operations x terms, on few values).

Prints p50 and p95 per shape, the counted work and the time to refuse one over the limit,
after the floor: a one-unit PATCH (``replace title``) on the 999-e-mail user, whose cost --
reading, re-validating, re-indexing and rendering 999 e-mails -- no work limit can lower.
Exits 1 if a request at the limit does not answer 200, if one over it does not answer
``400 tooMany``, or if the slowest shape's p50 is over ``--budget-ms`` (500 by default).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.db import connection as db_connection  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

SCIM = "/scim/v2"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
TAG = "f000"  # a run's tag goes into the values it writes; every tag has this length


def email(n: int, tag: str = "") -> dict[str, Any]:
    return {"value": f"user.{n:04d}{tag}@bench.test", "type": "work", "display": f"Mail {n}"}


def user_body(user_name: str, emails: int) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Bench", "familyName": "User"},
        "emails": [email(n) for n in range(emails)],
        "active": True,
    }


def any_of(n: int, terms: int) -> str:
    """A value filter of *terms* comparisons, the last one matching e-mail *n*."""
    misses = [f'value eq "miss.{t}@bench.test"' for t in range(terms - 1)]
    return " or ".join([*misses, f'value eq "{email(n)["value"]}"'])


def shapes(emails: int) -> list[tuple[str, str, Callable[[int, str], list[dict[str, Any]]]]]:
    """(label, which user, operations(k, run tag)) for each shape of PATCH."""

    def filtered(terms: int, size: int) -> Callable[[int, str], list[dict[str, Any]]]:
        return lambda k, run: [
            {
                "op": "replace",
                "path": f"emails[{any_of(i % size, terms)}].display",
                "value": f"{run} {i}",
            }
            for i in range(k)
        ]

    return [
        ("replace emails[value eq].display", "big", filtered(1, emails)),
        ("  ... with 40-term filters", "big", filtered(40, emails)),
        ("  ... with 100-term filters", "big", filtered(100, emails)),
        (
            "replace emails.display (no filter)",
            "big",
            lambda k, run: [
                {"op": "replace", "path": "emails.display", "value": f"{run} {i}"} for i in range(k)
            ],
        ),
        (
            "add emails (one new value each)",
            "half",
            lambda k, run: [
                {"op": "add", "path": "emails", "value": [email(i, run)]} for i in range(k)
            ],
        ),
        (
            "remove emails by type (value list)",
            "big",
            lambda k, run: [
                {"op": "remove", "path": "emails", "value": [{"type": f"{run}-{j}"}]}
                for j in range(k)
            ],
        ),
        (
            "no-path replace of all emails",
            "big",
            lambda k, run: [
                {
                    "op": "replace",
                    "value": {"emails": [email(n, run) for n in range(emails)]},
                }
                for _ in range(k)
            ],
        ),
        ("  ... 100-term filters, 5 e-mails", "small", filtered(100, 5)),
    ]


def body_of(operations: list[Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP], "Operations": operations}


def work_of(document: dict[str, Any], operations: list[Any]) -> int | None:
    """The counted work of a PATCH; None when its body is over ``SCIM_MAX_PAYLOAD_SIZE``."""
    from django_provisioning.conf import provisioning_settings
    from django_provisioning.schema.definitions import USER_RESOURCE
    from django_provisioning.scim.patch import plan_patch

    body = body_of(operations)
    if len(json.dumps(body)) > provisioning_settings.SCIM_MAX_PAYLOAD_SIZE:
        return None
    return plan_patch(document, body, USER_RESOURCE, limit=10**18)[1]


def fit(document: dict[str, Any], make: Callable[[int, str], list[Any]], limit: int) -> int:
    """The most operations (at most 1000) whose work stays within *limit* and whose body
    stays within ``SCIM_MAX_PAYLOAD_SIZE`` (run tags all have one length: same body sizes)."""

    def fits(k: int) -> bool:
        work = work_of(document, make(k, TAG))
        return work is not None and work <= limit

    low, high = 0, 1000
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="Timed runs per shape.")
    parser.add_argument("--limit", type=int, default=None, help="SCIM_PATCH_MAX_WORK to test.")
    parser.add_argument("--emails", type=int, default=999, help="E-mails of the large user.")
    parser.add_argument("--budget-ms", type=float, default=500.0, help="Largest p50 allowed.")
    args = parser.parse_args(argv)

    from django.conf import settings

    from django_provisioning import provisioning
    from django_provisioning.conf import provisioning_settings
    from django_provisioning.models import Connection
    from django_provisioning.schema.definitions import USER_RESOURCE
    from django_provisioning.schema.document import canonicalize
    from django_provisioning.tokens import issue_token

    overrides = dict(getattr(settings, "DJANGO_PROVISIONING", {}))
    if args.limit is not None:
        overrides["SCIM_PATCH_MAX_WORK"] = args.limit
    setup_test_environment()
    old_name = db_connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with override_settings(DJANGO_PROVISIONING=overrides):
            limit = provisioning_settings.SCIM_PATCH_MAX_WORK
            conn = Connection.objects.create(slug="bench", name="Bench")
            _token, raw = issue_token(conn, name="bench")
            client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
            users = {}
            for key, count in (("big", args.emails), ("half", args.emails // 2), ("small", 5)):
                document, _pw = canonicalize(user_body(f"{key}@bench.test", count), USER_RESOURCE)
                users[key] = (provisioning.create_user(conn, document), document)

            def send(key: str, operations: list[Any]) -> tuple[float, Any]:
                identity, _document = users[key]
                body = json.dumps({"schemas": [PATCH_OP], "Operations": operations})
                start = time.perf_counter()
                response = client.patch(
                    f"{SCIM}/Users/{identity.scim_id}", body, content_type="application/scim+json"
                )
                return (time.perf_counter() - start) * 1000, response

            def reset(key: str) -> None:
                identity, document = users[key]
                identity.refresh_from_db()
                provisioning.replace_user(identity, document)

            print(
                f"SCIM_PATCH_MAX_WORK = {limit}; {db_connection.vendor}; users with "
                f"{args.emails} and 5 e-mails; {args.repeat} runs each"
            )
            print(
                f"{'PATCH at the limit':<36} {'ops':>5} {'work':>8} {'p50 ms':>8} {'p95 ms':>8}"
                f" {'over: ms':>9}"
            )
            failed = False
            slowest = 0.0
            floor = []
            for run in range(args.repeat + 1):
                reset("big")
                elapsed, response = send("big", [{"op": "replace", "path": "title", "value": run}])
                failed |= response.status_code != 200
                floor.append(elapsed)
            floor_p50 = statistics.median(floor[1:])
            print(f"{'floor: replace title (1 unit)':<36} {1:>5} {1:>8} {floor_p50:>8.1f}")
            for label, key, make in shapes(args.emails):
                document = users[key][1]
                k = fit(document, make, limit)
                if k == 0:
                    print(f"{label:<36} no operation fits within the limit")
                    continue
                work = work_of(document, make(k, TAG))
                durations = []
                for run in range(args.repeat + 1):
                    reset(key)
                    elapsed, response = send(key, make(k, f"r{run:03d}"))
                    if response.status_code != 200:
                        print(f"{label}: {response.status_code} {response.content[:300]!r}")
                        failed = True
                        break
                    if run:  # the first run warms caches up
                        durations.append(elapsed)
                reset(key)
                over_ms, response = 0.0, None
                if k < 1000:
                    over = work_of(document, make(k + 1, TAG))
                    if over is not None:  # else the body size, not the work, bounds k
                        assert over > limit
                        over_ms, response = send(key, make(k + 1, "o000"))
                if response is not None and (
                    response.status_code != 400 or response.json().get("scimType") != "tooMany"
                ):
                    print(f"{label}: one over the limit answered {response.status_code}")
                    failed = True
                if not durations:
                    continue
                p50 = statistics.median(durations)
                p95 = statistics.quantiles(durations, n=20)[-1] if len(durations) > 1 else p50
                slowest = max(slowest, p50)
                over = f"{over_ms:>9.1f}" if response is not None else f"{'-':>9}"
                print(f"{label:<36} {k:>5} {work:>8} {p50:>8.1f} {p95:>8.1f} {over}")
            print(f"slowest p50: {slowest:.1f} ms (budget {args.budget_ms:.0f} ms)")
            if slowest > args.budget_ms:
                failed = True
            print("FAIL" if failed else "OK")
            return 1 if failed else 0
    finally:
        db_connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    sys.exit(main())
