"""A worker killed mid-request loses no acknowledged write and leaves no half-written user.

The example project runs on PostgreSQL under ``runserver`` (one process: the worker) while 8
client threads stream SCIM writes, each to users of its own: ``POST``, then ``PATCH``, then
``PUT`` of each new user. In every round the worker is SIGKILLed while one more request (a
``POST``, a ``PUT``, a ``PATCH``) is held open inside its transaction after its user and link
rows are written (``tests.worker_kill``), and while the writers' requests are cut wherever they
are. Then the database must hold every write answered 2xx with the content acknowledged (or
with the content of the one write per user that was in flight, which may have committed without
its answer arriving), the held writes must have left no trace, and every user row must have its
link row and index rows, agreeing with each other. At the end a fresh worker serves the
acknowledged content over SCIM.

PostgreSQL only: it runs in the PostgreSQL suite (``DATABASE=postgres``, ``tox -e postgres``)
in a database of its own, and fails there, in CI, when the server cannot be reached.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from .servers import ExampleServer, issue_token, patch_given_name, project_env, scim_call, user_body
from .worker_kill.apps import PAUSE_PREFIX, PAUSED_QUERY

pytestmark = pytest.mark.skipif(
    settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs PostgreSQL: runs in the PostgreSQL suite (DATABASE=postgres, tox -e postgres)",
)

WRITERS = 8
ACKED_BEFORE_KILL = 24  # acknowledged writes per round before the kill: the stream is running
MAX_USERS_PER_WRITER = 200  # a bound, so a worker that is never killed cannot hang the test
HELD_VERBS = ("POST", "PUT", "PATCH")  # one round each
Content = tuple[str, str]  # (givenName, familyName)


@dataclass
class Tracked:
    """What one client knows of one user: the last acknowledged write and the one cut off."""

    user_name: str
    scim_id: str | None = None
    acked: Content | None = None
    acked_writes: int = 0
    in_flight: Content | None = None  # sent, unanswered: it may or may not have committed


@dataclass
class Postgres:
    """The suite's PostgreSQL server, and a fresh database of this test on it."""

    params: dict[str, str]  # host, port, user, password: the suite's own settings
    conninfo: str  # the same, as a libpq connection string
    admin: Any  # an autocommit connection to the ``postgres`` database
    name: str

    def libpq_env(self) -> dict[str, str]:
        """The same server for a subprocess, as libpq's ``PG*`` variables."""
        return {f"PG{key.upper()}": value for key, value in self.params.items()}

    def connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.conninfo, dbname=self.name)


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    psycopg = pytest.importorskip("psycopg")
    db: dict[str, Any] = settings.DATABASES["default"]
    keys = {"host": "HOST", "port": "PORT", "user": "USER", "password": "PASSWORD"}
    params = {key: str(db[setting]) for key, setting in keys.items() if db.get(setting)}
    conninfo = psycopg.conninfo.make_conninfo("", **params)
    name = f"{db['TEST'].get('NAME') or 'test_' + db['NAME']}_worker_killed"
    try:
        admin = psycopg.connect(conninfo, dbname="postgres", autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL is not reachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must run every test)")
        pytest.skip(message)
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Postgres(params, conninfo, admin, name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def is_refused(exc: OSError) -> bool:
    """True when the request never reached the worker (nothing was sent)."""
    return isinstance(getattr(exc, "reason", exc), ConnectionRefusedError)


class Round:
    """8 writers streaming against one worker, and one write held open; then the kill."""

    def __init__(self, server: ExampleServer, token: str, number: int) -> None:
        self.server = server
        self.token = token
        self.number = number
        self.tracked: list[Tracked] = []
        self.unexpected: list[Any] = []
        self.acked = 0
        self.lock = threading.Lock()

    def send(self, user: Tracked, verb: str, content: Content) -> bool:
        """One write of *user*; False once the worker is gone."""
        given, family = content
        if verb == "POST":
            path, body = "Users", user_body(user.user_name, given, family)
        elif verb == "PUT":
            path, body = f"Users/{user.scim_id}", user_body(user.user_name, given, family)
        else:
            path, body = f"Users/{user.scim_id}", patch_given_name(given)
        try:
            status, answer = scim_call(self.server.base_url, self.token, verb, path, body)
        except OSError as exc:
            if not is_refused(exc):
                user.in_flight = content
            return False
        if status not in (200, 201):
            self.unexpected.append((verb, user.user_name, status, answer))
            return False
        user.scim_id = answer["id"]
        user.acked, user.acked_writes = content, user.acked_writes + 1
        with self.lock:
            self.acked += 1
        return True

    def guarded(self, work: Any, *args: Any) -> None:
        """Run *work* in a thread; an exception there is reported by the test, not lost."""
        try:
            work(*args)
        except Exception as exc:
            self.unexpected.append(repr(exc))

    def writer(self, n: int) -> None:
        for k in range(MAX_USERS_PER_WRITER):
            user = Tracked(f"w{self.number}-{n}-{k}@example.com")
            with self.lock:
                self.tracked.append(user)
            family = f"fam-{k}"
            for verb, content in (
                ("POST", (f"post-{k}", family)),
                ("PATCH", (f"patch-{k}", family)),
                ("PUT", (f"put-{k}", f"{family}-put")),
            ):
                if not self.send(user, verb, content):
                    return

    def run(self, held_verb: str, pg: Postgres) -> Tracked:
        """Stream, hold one *held_verb* write open, SIGKILL the worker; the held user."""
        held = Tracked(f"held{self.number}@example.com")
        if held_verb != "POST":
            assert self.send(held, "POST", ("before", "before"))
        threads = [
            threading.Thread(target=self.guarded, args=(self.writer, n)) for n in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        wait_for(lambda: self.acked >= ACKED_BEFORE_KILL or bool(self.unexpected), "writes")
        pause = (f"{PAUSE_PREFIX}-{self.number}", "paused")
        holder = threading.Thread(target=self.guarded, args=(self.send, held, held_verb, pause))
        holder.start()
        wait_for(lambda: held_open(pg) or bool(self.unexpected), "the write held open")
        self.server.kill()
        for thread in [*threads, holder]:
            thread.join()
        assert held.in_flight == pause, ("the held write was answered", self.unexpected[:5])
        return held


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 120  # a bound on a hang, not a timed assertion
    while not condition():
        assert time.monotonic() < deadline, f"waited too long for {what}"
        time.sleep(0.02)


def held_open(pg: Postgres) -> bool:
    row = pg.admin.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = %s AND state = 'idle in transaction' AND query = %s",
        (pg.name, PAUSED_QUERY),
    ).fetchone()
    return bool(row[0])


def stored_users(pg: Postgres) -> dict[str, dict[str, Any]]:
    """Every user row, with its link row and the count of its indexed e-mail rows."""
    with pg.connect() as con:
        orphans = con.execute(
            "SELECT count(*) FROM django_provisioning_externalidentity i"
            " LEFT JOIN auth_user u ON u.id = i.user_id WHERE u.id IS NULL"
        ).fetchone()[0]
        assert orphans == 0, "link rows without their user"
        rows = con.execute(
            "SELECT u.username, u.first_name, u.last_name, i.scim_id, i.document, i.version,"
            " (SELECT count(*) FROM django_provisioning_externalidentityvalue v"
            "  WHERE v.identity_id = i.id AND v.attribute = 'emails')"
            " FROM auth_user u"
            " LEFT JOIN django_provisioning_externalidentity i ON i.user_id = u.id"
        ).fetchall()
    users: dict[str, dict[str, Any]] = {}
    for user_name, first, last, scim_id, document, version, emails in rows:
        assert user_name not in users, f"{user_name}: two link rows"
        name = (document or {}).get("name") or {}
        users[user_name] = {
            "content": (first, last),
            "document": (name.get("givenName"), name.get("familyName")),
            "scim_id": scim_id and str(scim_id),
            "version": version,
            "emails": emails,
        }
    return users


def expected_states(user: Tracked) -> dict[Content, int]:
    """Content the database may hold for *user* -> the version it then has."""
    states = {user.acked: user.acked_writes} if user.acked else {}
    if user.in_flight:
        states[user.in_flight] = user.acked_writes + 1
    return states


def test_a_killed_worker_loses_no_acknowledged_write(postgres: Postgres, tmp_path: Path) -> None:
    env = {
        **project_env("tests.worker_kill.settings"),
        **postgres.libpq_env(),
        "WORKER_KILL_DB": postgres.name,
    }
    token = issue_token(env)
    tracked: list[Tracked] = []
    held: list[tuple[str, Tracked]] = []
    for number, verb in enumerate(HELD_VERBS):
        server = ExampleServer(env, tmp_path / "runserver.log").start()
        try:
            round_ = Round(server, token, number)
            held.append((verb, round_.run(verb, postgres)))
        finally:
            server.kill()
        assert not round_.unexpected, round_.unexpected[:5]
        tracked += round_.tracked
    assert any(user.in_flight for user in tracked), "no writer's request was cut by a kill"

    users = stored_users(postgres)

    for user_name, row in users.items():  # no half-written user, none the clients do not know
        assert row["scim_id"], f"{user_name}: a user row without its link row"
        assert row["document"] == row["content"], f"{user_name}: user and link row disagree"
        assert row["emails"] == 1, f"{user_name}: {row['emails']} indexed e-mail rows"
    known = {user.user_name for user in tracked} | {user.user_name for _verb, user in held}
    assert set(users) <= known
    for user in tracked:
        states = expected_states(user)
        stored = users.get(user.user_name)
        if stored is None:  # only a create that was never answered may be missing
            assert user.acked is None, f"{user.user_name}: acknowledged, then lost"
            continue
        assert stored["content"] in states, (user.user_name, stored["content"], states)
        assert stored["version"] == states[stored["content"]], (user.user_name, stored, states)
        if user.scim_id:
            assert stored["scim_id"].replace("-", "") == user.scim_id.replace("-", "")
    for verb, user in held:  # killed before its commit: no trace of it
        if verb == "POST":
            assert user.user_name not in users
        else:
            assert users[user.user_name]["content"] == ("before", "before")
            assert users[user.user_name]["version"] == 1

    with ExampleServer(env, tmp_path / "runserver.log") as server:  # a fresh worker serves it
        for user in [user for user in tracked if user.acked] + [h for _v, h in held if h.acked]:
            status, body = scim_call(server.base_url, token, "GET", f"Users/{user.scim_id}")
            assert status == 200, body
            served = (body["name"]["givenName"], body["name"]["familyName"])
            assert served == users[user.user_name]["content"]
