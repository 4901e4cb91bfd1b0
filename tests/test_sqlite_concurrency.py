"""The embedded default takes the load an IdP sends: 8 concurrent SCIM writers on SQLite.

An identity provider pushes a directory with several requests at once. The example project's
settings (the documented SQLite configuration: WAL journal, a busy timeout, ``BEGIN IMMEDIATE``
write transactions) must serialise them, not answer "database is locked". The server here is
the example project under ``runserver`` (threaded: one database connection per request) on a
SQLite *file*, written by 8 client threads at once.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .servers import (
    ExampleServer,
    issue_token,
    patch_given_name,
    project_env,
    scim_call,
    user_body,
)

THREADS = 8
POSTS_PER_THREAD = 12
SHARED_USERS = 6  # the users every thread PATCHes or PUTs in the mixed round
Result = tuple[str, int, dict[str, Any]]  # (verb, status, body) of one request


@dataclass
class Served:
    """The example project serving a fresh SQLite file, and a SCIM token for it."""

    process: ExampleServer
    token: str
    db: Path

    @property
    def base_url(self) -> str:
        return self.process.base_url

    def stop(self) -> None:
        """Stop the server: nothing is in flight, the file is what the next reader sees."""
        self.process.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    db = tmp_path / "example.sqlite3"
    env = project_env(db=db)
    token = issue_token(env)
    with ExampleServer(env, tmp_path / "runserver.log") as process:
        yield Served(process, token, db)


def in_threads(work: Callable[[int], list[Result]]) -> list[Result]:
    """Run *work(thread_number)* in THREADS threads released together; their results, flat."""
    barrier = threading.Barrier(THREADS)
    results: list[list[Result]] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            barrier.wait()
            results[n] = work(n)
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return [item for chunk in results for item in chunk]


def link_rows(db: Path) -> dict[str, tuple[str, int]]:
    """scim_id (hex) -> (userName, version) of the live link rows, read from the file."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "SELECT scim_id, user_name, version FROM django_provisioning_externalidentity"
            " WHERE deleted_at IS NULL"
        ).fetchall()
    return {uuid.UUID(str(scim_id)).hex: (name, version) for scim_id, name, version in rows}


def count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def failures(results: list[Result], ok: dict[str, int]) -> list[Any]:
    return [(verb, status, body) for verb, status, body in results if status != ok[verb]][:5]


def test_eight_concurrent_posts_all_land(server: Served) -> None:
    def post_users(n: int) -> list[Result]:
        out = []
        for i in range(POSTS_PER_THREAD):
            name = f"t{n}-u{i}@example.com"
            status, body = scim_call(
                server.base_url, server.token, "POST", "Users", user_body(name, f"G{i}", f"F{n}")
            )
            out.append(("POST", status, body))
        return out

    results = in_threads(post_users)

    statuses = Counter(status for _verb, status, _body in results)
    assert statuses == {201: THREADS * POSTS_PER_THREAD}, (
        statuses,
        failures(results, {"POST": 201}),
    )
    server.stop()
    rows = link_rows(server.db)
    acknowledged = {uuid.UUID(body["id"]).hex: body["userName"] for _v, _s, body in results}
    assert {k: name for k, (name, _version) in rows.items()} == acknowledged
    assert count(server.db, "auth_user") == THREADS * POSTS_PER_THREAD  # no user without its link


def test_eight_concurrent_writers_mixing_post_patch_and_put(server: Served) -> None:
    """Every thread writes the same few users at once (PATCH or PUT) while creating its own."""
    shared = []
    for i in range(SHARED_USERS):
        status, body = scim_call(
            server.base_url,
            server.token,
            "POST",
            "Users",
            user_body(f"shared{i}@example.com", "S", "S"),
        )
        assert status == 201, body
        shared.append(body["id"])

    def mixed(n: int) -> list[Result]:
        out = []
        for i in range(POSTS_PER_THREAD):
            target = shared[i % SHARED_USERS]
            name = f"m{n}-u{i}@example.com"
            status, body = scim_call(
                server.base_url, server.token, "POST", "Users", user_body(name, "N", "N")
            )
            out.append(("POST", status, body))
            if n % 2:
                doc = user_body(f"shared{i % SHARED_USERS}@example.com", f"put{n}-{i}", f"F{n}")
                status, body = scim_call(
                    server.base_url, server.token, "PUT", f"Users/{target}", doc
                )
                out.append(("PUT", status, body))
            else:
                status, body = scim_call(
                    server.base_url,
                    server.token,
                    "PATCH",
                    f"Users/{target}",
                    patch_given_name(f"patch{n}-{i}"),
                )
                out.append(("PATCH", status, body))
        return out

    results = in_threads(mixed)

    ok = {"POST": 201, "PUT": 200, "PATCH": 200}
    statuses = Counter((verb, status) for verb, status, _body in results)
    assert all(status == ok[verb] for verb, status in statuses), (
        statuses,
        failures(results, ok),
    )
    server.stop()
    rows = link_rows(server.db)
    created = {uuid.UUID(body["id"]).hex for verb, _s, body in results if verb == "POST"}
    assert len(created) == THREADS * POSTS_PER_THREAD
    assert created | {uuid.UUID(s).hex for s in shared} == set(rows)
    assert count(server.db, "auth_user") == len(rows)
    # Each acknowledged PATCH/PUT is one version: none was lost or merged into another.
    writes = Counter(uuid.UUID(body["id"]).hex for verb, _s, body in results if verb != "POST")
    assert {s: rows[uuid.UUID(s).hex][1] for s in shared} == {
        s: 1 + writes[uuid.UUID(s).hex] for s in shared
    }
