"""The benchmark runner's verdicts: ``benchmarks/run.py --check`` fails for the right reasons.

No server here (``tox -e bench`` runs the real thing): these feed the runner's evaluation
results and captured SQL, and check which targets it reports missed and why.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import run


def args(**overrides: object) -> argparse.Namespace:
    return argparse.Namespace(**{"database": "postgres", "smoke": False, **overrides})


def result(name: str, ms: float, queries: int = 5, status: int = 200) -> run.Result:
    return run.Result(name, times=[ms] * 5, queries=[queries] * 5, statuses={status})


def test_a_p50_over_one_and_a_half_times_fails_the_check_except_deep_pages() -> None:
    by_size = {
        20_000: {
            "GET /Users/{id}": result("GET /Users/{id}", 10),
            "POST /Users": result("POST /Users", 30),
            "GET /Users?startIndex=<90%>": result("GET /Users?startIndex=<90%>", 90),
        },
        1_000_000: {
            "GET /Users/{id}": result("GET /Users/{id}", 14.9),
            "POST /Users": result("POST /Users", 2170),
            "GET /Users?startIndex=<90%>": result("GET /Users?startIndex=<90%>", 2779),
        },
    }
    failures = run.evaluate(args(), by_size)
    assert len(failures) == 1
    assert failures[0].startswith("POST /Users: p50 2170.0 ms at 1,000,000 users is 72.33x")


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_the_documented_sqlite_scans_are_excepted_on_sqlite_only(database: str) -> None:
    names = ["filter userName ew", "filter userName co", "filter displayName eq"]
    by_size = {
        20_000: {name: result(name, 13) for name in names},
        200_000: {name: result(name, 100) for name in names},
    }
    failures = run.evaluate(args(database=database), by_size)
    assert len(failures) == (0 if database == "sqlite" else 3)


def test_a_wrong_status_fails_and_the_smoke_checks_query_counts_not_time() -> None:
    by_size = {
        1000: {
            "PATCH /Users/{id}": result("PATCH /Users/{id}", 10, queries=14),
            "GET /Users?count=100": result("GET /Users?count=100", 10),
        },
        3000: {
            "PATCH /Users/{id}": result("PATCH /Users/{id}", 100, queries=15),
            "GET /Users?count=100": result("GET /Users?count=100", 100, status=500),
        },
    }
    failures = run.evaluate(args(smoke=True), by_size)
    assert failures == [
        "GET /Users?count=100 at 3,000: status [500], expected (200,)",
        "PATCH /Users/{id}: 14 queries at 1,000 users, 15 at 3,000",
    ]


def test_a_big_sequential_scan_is_a_finding_a_small_table_or_an_index_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "plans.sqlite3"
    db = sqlite3.connect(database)
    db.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("CREATE INDEX big_name ON big (name)")
    db.execute("CREATE TABLE small (id INTEGER PRIMARY KEY, name TEXT)")
    db.executemany("INSERT INTO big (name) VALUES (?)", [(f"n{i}",) for i in range(10_001)])
    db.executemany("INSERT INTO small (name) VALUES (?)", [(f"n{i}",) for i in range(10)])
    db.commit()
    db.close()
    monkeypatch.setattr(run, "SQL_DIR", tmp_path)
    (tmp_path / "log.json").write_text(
        json.dumps(
            {
                "vendor": "sqlite",
                "statements": [
                    {"sql": "SELECT id FROM big WHERE name LIKE %s", "params": ["%x%"]},
                    {"sql": "SELECT id FROM big WHERE name = %s", "params": ["n1"]},
                    {"sql": "SELECT id FROM small WHERE name LIKE %s", "params": ["%x%"]},
                    {"sql": "INSERT INTO small (name) VALUES (%s)", "params": ["x"]},
                ],
            }
        )
    )
    explainer = run.Explainer("sqlite", str(database))
    try:
        findings = explainer.findings("log.json")
    finally:
        explainer.close()
    assert findings == ["Seq Scan on big (10,001 rows) in: SELECT id FROM big WHERE name LIKE %s"]


def test_rounds_pool_every_timed_request_of_a_size() -> None:
    """``--rounds``: the p50 is the median of all rounds' requests, statuses add up, and a
    slow round of one size cannot alone fail the check."""
    first = {"GET /Users/{id}": run.Result("GET /Users/{id}", times=[10, 11, 12], statuses={200})}
    slow = {"GET /Users/{id}": run.Result("GET /Users/{id}", times=[30, 31, 32], statuses={503})}
    again = {"GET /Users/{id}": run.Result("GET /Users/{id}", times=[10, 12, 13], statuses={200})}
    pooled = run.pool(run.pool(first, slow), again)["GET /Users/{id}"]
    assert sorted(pooled.times) == [10, 10, 11, 12, 12, 13, 30, 31, 32]
    assert pooled.p50 == 12 and pooled.statuses == {200, 503}
    small = {"GET /Users/{id}": run.Result("GET /Users/{id}", times=[10] * 9, statuses={200})}
    assert run.evaluate(args(), {20_000: small, 1_000_000: {"GET /Users/{id}": pooled}}) == [
        "GET /Users/{id} at 1,000,000: status [503], expected (200,)"
    ]
    assert run.pool({}, first) == first
