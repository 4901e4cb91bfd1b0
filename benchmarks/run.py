"""Serve the example project under gunicorn on seeded databases and time every SCIM operation.

    python benchmarks/run.py --sizes 20000,1000000 --database postgres [--check]
    python benchmarks/run.py --smoke                 # CI: statuses and query counts only

For each size it seeds a database with ``benchmarks/seed.py`` (kept, and reused with
``--reuse``: PostgreSQL database ``bench_dp_<size>``, SQLite file
``benchmarks/.data/bench-<size>.sqlite3``), serves ``example_project`` with
``benchmarks/bench_settings.py`` under gunicorn (``--workers``, default 1), and drives it over
HTTP with a real bearer token (stdlib ``http.client``, ``--concurrency`` threads). Per
operation it prints p50 and p95 (ms), requests per second and the queries per request (the
``X-Bench-Queries`` header of the bench settings' middleware), then, per operation, the
ratio of the p50s of the largest size to the smallest.

It also captures the SQL of one request of each operation (``X-Bench-Capture: 1``) and runs
``EXPLAIN`` of each of its SELECT, UPDATE and DELETE statements against the seeded database
(nothing is executed): a sequential scan of a table of more than 10,000 rows is a finding.

``--check`` exits 1 when a target is missed, and says which and why:

- p50 at the largest size over 1.5x p50 at the smallest, for every operation except the deep
  ``startIndex`` page (and on SQLite the documented scans: ``userName ew`` and ``co``, and
  ``displayName eq``);
- a ``Seq Scan`` on a table of more than 10,000 rows (PostgreSQL; SQLite plans are printed,
  not checked: it has no other plan for ``LIKE '%x%'``);
- a status other than the operation's (always checked, as are the query counts in
  ``--smoke``: every operation must cost the same number of queries at every size).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data"
SQL_DIR = DATA / "sql"
sys.path.insert(0, str(ROOT / "benchmarks"))

import seed as seeding  # noqa: E402

USER_SCHEMA = seeding.USER_SCHEMA
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCAN_LIMIT = 10_000
RATIO_LIMIT = 1.5
#: Operations whose cost may grow with the table (the offset of a deep page).
NOT_FLAT = {"GET /Users?startIndex=<90%>"}
#: On SQLite, also the documented scans (docs/scim.rst, "Indexes per database"): ``ew`` and
#: ``co`` have no index there, a group's ``displayName`` is compared by a case fold no index
#: serves. The target of flat reads is PostgreSQL's.
NOT_FLAT_SQLITE = {"filter userName ew", "filter userName co", "filter displayName eq"}


# ----------------------------------------------------------------------------- HTTP


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]
    ms: float

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Client:
    """A bearer-token SCIM client of ``http://host:port{prefix}`` (a connection per request:
    gunicorn's sync workers close it anyway)."""

    def __init__(self, port: int, token: str, prefix: str = "/scim/v2", auth: str = "Bearer"):
        self.port = port
        self.prefix = prefix
        self.headers = {
            "Authorization": f"{auth} {token}",
            "Accept": "application/scim+json",
            "Content-Type": "application/scim+json",
            "Host": "127.0.0.1",
        }

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        data = None if body is None else json.dumps(body).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        try:
            start = time.perf_counter()
            conn.request(
                method, self.prefix + path, body=data, headers={**self.headers, **(headers or {})}
            )
            raw = conn.getresponse()
            content = raw.read()
            ms = (time.perf_counter() - start) * 1000
            return Response(raw.status, content, {k.lower(): v for k, v in raw.getheaders()}, ms)
        finally:
            conn.close()


def q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


# ----------------------------------------------------------------------------- server


class Server:
    """``gunicorn`` serving a WSGI app with *env*, on a free port, until :meth:`stop`.

    The port is bound here and its socket handed to gunicorn (``--bind fd://N``): a port only
    looked up free and bound later by gunicorn could be handed out again meanwhile, and two
    servers started one after the other (ours and django-scim2's) once got the same one.
    """

    def __init__(self, python: str, app: str, chdir: Path, env: dict[str, str], workers: int):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        self.port = int(listener.getsockname()[1])
        self.log = open(DATA / f"gunicorn-{self.port}.log", "w")
        self.process = subprocess.Popen(
            [
                python,
                "-m",
                "gunicorn",
                "--workers",
                str(workers),
                "--bind",
                f"fd://{listener.fileno()}",
                "--chdir",
                str(chdir),
                "--timeout",
                "300",
                "--log-level",
                "warning",
                app,
            ],
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            pass_fds=(listener.fileno(),),
        )
        listener.close()  # gunicorn has its own copy

    def wait(self, client: Client, path: str) -> None:
        for _ in range(300):
            if self.process.poll() is not None:
                raise SystemExit(f"gunicorn exited; see {self.log.name}")
            try:
                if client.request("GET", path).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"gunicorn did not answer; see {self.log.name}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


# ----------------------------------------------------------------------------- operations


@dataclass
class Op:
    name: str
    #: (iteration) -> (method, path, body)
    make: Callable[[int], tuple[str, str, Any]]
    expect: tuple[int, ...] = (200,)


@dataclass
class Result:
    name: str
    times: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    seconds: float = 0.0
    sql_log: str | None = None
    findings: list[str] = field(default_factory=list)
    expect: tuple[int, ...] = (200,)

    @property
    def p50(self) -> float:
        return statistics.median(self.times) if self.times else float("nan")

    @property
    def p95(self) -> float:
        if len(self.times) < 2:
            return self.p50
        return statistics.quantiles(self.times, n=20)[-1]

    @property
    def rps(self) -> float:
        return len(self.times) / self.seconds if self.seconds else 0.0

    @property
    def query_count(self) -> int | None:
        return int(statistics.median(self.queries)) if self.queries else None


def user_put_body(i: int, scim_id: str, title: str) -> dict[str, Any]:
    body = seeding.user_body(i)
    body["id"] = scim_id
    body["title"] = title
    return body


def new_user_body(tag: str, j: int) -> dict[str, Any]:
    body = seeding.user_body(0)
    body["userName"] = f"new-{tag}-{j}@example.com"
    body["externalId"] = f"new-{tag}-{j}"
    body["emails"] = [{"value": body["userName"], "type": "work", "primary": True}]
    return body


def sample(size: int, n: int, rng: random.Random) -> list[int]:
    return rng.sample(range(size), min(n, size))


def find_id(client: Client, path: str) -> str:
    response = client.request("GET", path)
    resources = (response.json() or {}).get("Resources") or []
    if response.status != 200 or not resources:
        raise SystemExit(f"setup lookup {path} failed: {response.status} {response.body[:200]!r}")
    return str(resources[0]["id"])


def cursor_supported(client: Client) -> bool:
    """RFC 9865: ``pagination.cursor`` true in /ServiceProviderConfig."""
    config = client.request("GET", "/ServiceProviderConfig").json() or {}
    pagination = config.get("pagination") or {}
    return bool(isinstance(pagination, dict) and pagination.get("cursor"))


def operations(
    client: Client, size: int, groups: int, requests: int, tag: str, *, ours: bool = True
) -> list[Op]:
    """The operations, with their targets looked up first (untimed)."""
    rng = random.Random(size)
    picks = sample(size, requests, rng)
    ids = [
        find_id(client, "/Users?filter=" + q(f'userName eq "{seeding.user_name(i)}"'))
        for i in picks
    ]
    ops = [
        Op("GET /Users?count=100", lambda j: ("GET", "/Users?count=100", None)),
        Op(
            "GET /Users?startIndex=<90%>",
            lambda j: ("GET", f"/Users?startIndex={int(size * 0.9) + j}&count=100", None),
        ),
        Op("GET /Users/{id}", lambda j: ("GET", f"/Users/{ids[j % len(ids)]}", None)),
        Op(
            "filter userName eq",
            lambda j: (
                "GET",
                "/Users?filter=" + q(f'userName eq "{seeding.user_name(picks[j % len(picks)])}"'),
                None,
            ),
        ),
        Op(
            "filter externalId eq",
            lambda j: (
                "GET",
                "/Users?filter="
                + q(f'externalId eq "{seeding.external_id(picks[j % len(picks)])}"'),
                None,
            ),
        ),
        Op(
            "filter emails.value eq",
            lambda j: (
                "GET",
                "/Users?filter="
                + q(f'emails.value eq "{seeding.user_name(picks[j % len(picks)])}"'),
                None,
            ),
        ),
        Op(
            'filter emails[type eq "work"].value eq',
            lambda j: (
                "GET",
                "/Users?filter="
                + q(
                    f'emails[type eq "work"].value eq "{seeding.user_name(picks[j % len(picks)])}"'
                ),
                None,
            ),
        ),
        Op(
            "filter userName sw",
            lambda j: (
                "GET",
                "/Users?filter=" + q(f'userName sw "user{picks[j % len(picks)]:07d}"'),
                None,
            ),
        ),
        Op(
            "filter userName ew",
            lambda j: (
                "GET",
                "/Users?filter=" + q(f'userName ew "{picks[j % len(picks)]:07d}@example.com"'),
                None,
            ),
        ),
        Op(
            "filter userName co",
            lambda j: (
                "GET",
                "/Users?filter=" + q(f'userName co "r{picks[j % len(picks)]:07d}@"'),
                None,
            ),
        ),
        Op("POST /Users", lambda j: ("POST", "/Users", new_user_body(tag, j)), (201,)),
        Op(
            "PUT /Users/{id}",
            lambda j: (
                "PUT",
                f"/Users/{ids[j % len(ids)]}",
                user_put_body(picks[j % len(picks)], ids[j % len(ids)], f"Title {tag} {j}"),
            ),
        ),
        Op(
            "PATCH /Users/{id}",
            lambda j: (
                "PATCH",
                f"/Users/{ids[j % len(ids)]}",
                {
                    "schemas": [PATCH_SCHEMA],
                    "Operations": [{"op": "replace", "path": "title", "value": f"P {tag} {j}"}],
                },
            ),
            (200, 204),
        ),
    ]
    created: list[str] = []
    ops.append(Op("DELETE /Users/{id}", lambda j: ("DELETE", f"/Users/{created[j]}", None), (204,)))
    ops[-1].before = lambda n: created.extend(  # type: ignore[attr-defined]
        find_id(client, "/Users?filter=" + q(f'userName eq "new-{tag}-{j}@example.com"'))
        for j in range(n)
    )
    if groups:
        k = groups // 2  # the same small size (about 10 members) at every table size
        group_id = find_id(client, "/Groups?filter=" + q(f'displayName eq "Group {k:06d}"'))
        member = ids[0]
        new_groups: list[str] = []
        ops += [
            Op(
                "GET /Groups?count=100",
                lambda j: ("GET", "/Groups?count=100&excludedAttributes=members", None),
            ),
            Op("GET /Groups/{id}", lambda j: ("GET", f"/Groups/{group_id}", None)),
            Op(
                "filter displayName eq",
                lambda j: (
                    "GET",
                    "/Groups?filter=" + q(f'displayName eq "Group {(k + j) % groups:06d}"'),
                    None,
                ),
            ),
            Op(
                "PATCH /Groups add+remove member",
                lambda j: (
                    "PATCH",
                    f"/Groups/{group_id}",
                    {
                        "schemas": [PATCH_SCHEMA],
                        "Operations": [
                            {"op": "add", "path": "members", "value": [{"value": member}]}
                            if j % 2 == 0
                            else {"op": "remove", "path": f'members[value eq "{member}"]'}
                        ],
                    },
                ),
                (200, 204),
            ),
            Op(
                "POST /Groups",
                lambda j: (
                    "POST",
                    "/Groups",
                    {
                        "schemas": [GROUP_SCHEMA],
                        "displayName": f"New {tag} {j}",
                        "members": [{"value": member}],
                    },
                ),
                (201,),
            ),
        ]
        ops.append(
            Op(
                "DELETE /Groups/{id}",
                lambda j: ("DELETE", f"/Groups/{new_groups[j]}", None),
                (204,),
            )
        )
        ops[-1].before = lambda n: new_groups.extend(  # type: ignore[attr-defined]
            find_id(client, "/Groups?filter=" + q(f'displayName eq "New {tag} {j}"'))
            for j in range(n)
        )
    if ours and cursor_supported(client):
        cursors: list[str] = []

        def cursor_page(j: int) -> tuple[str, str, Any]:
            return ("GET", f"/Users?count=100&cursor={q(cursors[j])}", None)

        def collect(n: int) -> None:
            page = client.request("GET", "/Users?count=100&cursor").json() or {}
            while len(cursors) < n and page.get("nextCursor"):
                cursors.append(page["nextCursor"])
                page = (
                    client.request("GET", f"/Users?count=100&cursor={q(page['nextCursor'])}").json()
                    or {}
                )

        ops.insert(2, Op("GET /Users?cursor (next pages)", cursor_page))
        ops[2].before = collect  # type: ignore[attr-defined]
    return ops


def drive(client: Client, op: Op, requests: int, concurrency: int, capture: bool) -> Result:
    """Run *op* *requests* times over *concurrency* threads (plus one untimed warm-up)."""
    result = Result(op.name, expect=op.expect)
    before = getattr(op, "before", None)
    if before is not None:
        before(requests + 1)  # the warm-up and the timed requests
    method, path, body = op.make(0)
    warm = client.request(method, path, body, {"X-Bench-Capture": "1"} if capture else None)
    result.statuses.add(warm.status)
    result.sql_log = warm.headers.get("x-bench-sql-log")
    lock = threading.Lock()
    counter = iter(range(1, requests + 1))

    def worker() -> None:
        while True:
            with lock:
                j = next(counter, None)
            if j is None:
                return
            m, p, b = op.make(j)
            response = client.request(m, p, b)
            with lock:
                result.times.append(response.ms)
                result.statuses.add(response.status)
                if "x-bench-queries" in response.headers:
                    result.queries.append(int(response.headers["x-bench-queries"]))

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - start
    return result


# ----------------------------------------------------------------------------- EXPLAIN


class Explainer:
    """EXPLAIN of captured statements against the seeded database; finds big sequential scans."""

    def __init__(self, database: str, target: str):
        self.database = database
        if database == "postgres":
            import psycopg

            self.db = psycopg.connect(
                host=os.environ.get("PGHOST", "127.0.0.1"),
                port=os.environ.get("PGPORT", "5432"),
                user=os.environ.get("PGUSER", "postgres"),
                password=os.environ.get("PGPASSWORD", ""),
                dbname=target,
            )
        else:
            import sqlite3

            self.db = sqlite3.connect(target)
            # The app's SQL functions (django_provisioning.db registers them per connection).
            self.db.create_function(
                "dp_casefold", 1, lambda v: v.casefold() if v else v, deterministic=True
            )
        self.sizes: dict[str, int] = {}

    def rows(self, table: str) -> int:
        if table not in self.sizes:
            if self.database == "postgres":
                row = self.db.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE relname = %s", (table,)
                ).fetchone()
            else:
                row = self.db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()
            self.sizes[table] = int(row[0]) if row else 0
        return self.sizes[table]

    def findings(self, log_name: str | None) -> list[str]:
        if not log_name:
            return []
        path = SQL_DIR / log_name
        data = json.loads(path.read_text())
        found: list[str] = []
        for statement in data["statements"]:
            sql, params = statement["sql"], statement["params"]
            verb = sql.lstrip().split(None, 1)[0].upper()
            if verb not in {"SELECT", "UPDATE", "DELETE"} or (params is None and "%s" in sql):
                continue
            for table in self.scans(sql, params or ()):
                if table.startswith("<"):
                    found.append(f"{table} in: {sql[:160]}")
                    continue
                rows = self.rows(table)
                if rows > SCAN_LIMIT:
                    found.append(f"Seq Scan on {table} ({rows:,} rows) in: {sql[:160]}")
        return found

    def scans(self, sql: str, params: Any) -> list[str]:
        if self.database == "postgres":
            try:
                plan = self.db.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()[0]
            except Exception as exc:
                self.db.rollback()
                return [f"<EXPLAIN failed: {exc}>"]
            self.db.rollback()
            tables: list[str] = []

            def walk(node: dict[str, Any]) -> None:
                if node.get("Node Type") == "Seq Scan":
                    tables.append(node["Relation Name"])
                for child in node.get("Plans", []):
                    walk(child)

            walk(plan[0]["Plan"])
            return tables
        try:
            rows = self.db.execute(
                "EXPLAIN QUERY PLAN " + sql.replace("%s", "?"), params
            ).fetchall()
        except Exception as exc:
            return [f"<EXPLAIN failed: {exc}>"]
        tables = []
        for row in rows:
            detail = str(row[-1])
            if detail.startswith("SCAN ") and "USING" not in detail:
                tables.append(detail.split()[1].strip('"'))
        return tables

    def close(self) -> None:
        self.db.close()


# ----------------------------------------------------------------------------- main


def database_name(database: str, size: int) -> str:
    if database == "postgres":
        return f"bench_dp_{size}"
    return str(DATA / f"bench-{size}.sqlite3")


def prepare(database: str, size: int, reuse: bool) -> str:
    """Seed the database of *size* users (unless reused); its bearer token."""
    token_file = DATA / f"bench-{database}-{size}.token"
    name = database_name(database, size)
    if not (reuse and token_file.exists()):
        args = ["--users", str(size), "--database", database, "--token-file", str(token_file)]
        args += ["--pgdatabase", name] if database == "postgres" else ["--path", name]
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "seed.py"), *args],
            check=True,
            stderr=subprocess.DEVNULL,
        )
        print(f"  seeded {size:,} users in {time.perf_counter() - started:.0f}s", flush=True)
    return token_file.read_text().strip()


def bench_env(database: str, size: int) -> dict[str, str]:
    env = {
        "DJANGO_SETTINGS_MODULE": "benchmarks.bench_settings",
        "BENCH_DATABASE": database,
        "BENCH_SQL_DIR": str(SQL_DIR),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "example_project")]),
    }
    if database == "postgres":
        env["BENCH_PGDATABASE"] = database_name(database, size)
    else:
        env["BENCH_SQLITE"] = database_name(database, size)
    return env


def run_size(args: argparse.Namespace, size: int) -> dict[str, Result]:
    token = prepare(args.database, size, args.reuse)
    server = Server(
        sys.executable,
        "example_project.wsgi",
        ROOT / "example_project",
        bench_env(args.database, size),
        args.workers,
    )
    client = Client(server.port, token)
    results: dict[str, Result] = {}
    explainer = Explainer(args.database, database_name(args.database, size))
    try:
        server.wait(client, "/ServiceProviderConfig")
        tag = f"{size}-{int(time.time())}"
        for op in operations(client, size, size // 50, args.requests, tag):
            result = drive(client, op, args.requests, args.concurrency, capture=True)
            result.findings = explainer.findings(result.sql_log)
            results[op.name] = result
    finally:
        explainer.close()
        server.stop()
    return results


def print_table(size: int, database: str, results: dict[str, Result]) -> None:
    print(f"\n{size:,} users, {database}")
    print(f"{'operation':<40} {'p50 ms':>8} {'p95 ms':>8} {'req/s':>7} {'queries':>7}  status")
    for name, r in results.items():
        qc = "-" if r.query_count is None else str(r.query_count)
        statuses = ",".join(str(s) for s in sorted(r.statuses))
        print(f"{name:<40} {r.p50:>8.1f} {r.p95:>8.1f} {r.rps:>7.1f} {qc:>7}  {statuses}")
        for finding in r.findings:
            print(f"    scan: {finding}")


def evaluate(args: argparse.Namespace, by_size: dict[int, dict[str, Result]]) -> list[str]:
    failures: list[str] = []
    sizes = sorted(by_size)
    for size in sizes:
        for name, r in by_size[size].items():
            wrong = r.statuses - set(r.expect)
            if wrong:
                failures.append(f"{name} at {size:,}: status {sorted(wrong)}, expected {r.expect}")
            if args.database == "postgres" and r.findings and not args.smoke:
                failures.append(f"{name} at {size:,}: {r.findings[0]}")
    small, large = by_size[sizes[0]], by_size[sizes[-1]]
    not_flat = NOT_FLAT | (NOT_FLAT_SQLITE if args.database == "sqlite" else set())
    if len(sizes) > 1:
        print(f"\nratio {sizes[-1]:,} / {sizes[0]:,} users (p50; queries)")
        for name in small:
            if name not in large:
                continue
            ratio = large[name].p50 / small[name].p50 if small[name].p50 else float("nan")
            qs, ql = small[name].query_count, large[name].query_count
            mark = ""
            if not args.smoke and name not in not_flat and ratio > RATIO_LIMIT:
                mark = f"  > {RATIO_LIMIT}x"
                failures.append(
                    f"{name}: p50 {large[name].p50:.1f} ms at {sizes[-1]:,} users is "
                    f"{ratio:.2f}x the {small[name].p50:.1f} ms at {sizes[0]:,} "
                    f"(limit {RATIO_LIMIT}x)"
                )
            if args.smoke and qs != ql and name not in NOT_FLAT:
                mark += "  queries differ"
                failures.append(
                    f"{name}: {qs} queries at {sizes[0]:,} users, {ql} at {sizes[-1]:,}"
                )
            if name in not_flat and not args.smoke and ratio > RATIO_LIMIT:
                mark = "  (excepted: grows with the table)"
            print(f"{name:<40} {ratio:>6.2f}x   {qs} -> {ql}{mark}")
    return failures


def reusing(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(**{**vars(args), "reuse": True})


def pool(earlier: dict[str, Result], later: dict[str, Result]) -> dict[str, Result]:
    """The results of two rounds of one size as one: their timings and statuses together
    (so a p50 is the median of every timed request), the first round's EXPLAIN findings."""
    pooled: dict[str, Result] = {}
    for name, result in later.items():
        first = earlier.get(name)
        if first is None:
            pooled[name] = result
            continue
        pooled[name] = Result(
            name,
            times=first.times + result.times,
            queries=first.queries + result.queries,
            statuses=first.statuses | result.statuses,
            seconds=first.seconds + result.seconds,
            sql_log=first.sql_log,
            findings=first.findings or result.findings,
            expect=result.expect,
        )
    return pooled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,1000000", help="comma-separated user counts")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--requests", type=int, default=50, help="timed requests per operation")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers")
    parser.add_argument("--concurrency", type=int, default=1, help="client threads")
    parser.add_argument("--reuse", action="store_true", help="reuse databases seeded before")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure every size this many times, sizes alternating, and pool the timings "
        "(evens out a machine whose speed drifts; 3 for the documented figures)",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument(
        "--smoke", action="store_true", help="CI: statuses and query counts, no timing targets"
    )
    args = parser.parse_args(argv)
    if args.smoke and args.sizes == parser.get_default("sizes"):
        args.sizes = "1000,3000"
        args.requests = min(args.requests, 5)
    DATA.mkdir(parents=True, exist_ok=True)
    SQL_DIR.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    by_size: dict[int, dict[str, Result]] = {}
    for round_ in range(args.rounds):
        for size in sizes:
            label = f" (round {round_ + 1} of {args.rounds})" if args.rounds > 1 else ""
            print(f"== {size:,} users on {args.database}{label}", flush=True)
            # Seeded in the first round only; later rounds reuse what it seeded.
            results = run_size(args if round_ == 0 else reusing(args), size)
            by_size[size] = pool(by_size.get(size, {}), results)
            print_table(size, args.database, results)
    if args.rounds > 1:
        for size in sizes:
            print(f"\npooled over {args.rounds} rounds:", end="")
            print_table(size, args.database, by_size[size])
    failures = evaluate(args, by_size)
    if failures and (args.check or args.smoke):
        print("\nFAILED targets:")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    if failures:
        print(f"\n{len(failures)} target(s) missed (run with --check to fail on them)")
        for failure in failures:
            print(f"  - {failure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
