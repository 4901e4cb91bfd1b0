"""Database plumbing of the core: the retried write transaction, failure kinds, case folding.

*Write transactions.* Every write of the provisioning core runs in :func:`write_transaction`:
one transaction, retried from the start when the database gives up on it for a reason a new
attempt may not meet (a deadlock, a serialization failure, SQLite's "database is locked"). It
makes at most ``WRITE_ATTEMPTS`` attempts, sleeping ``WRITE_RETRY_BACKOFF`` seconds before the
second, twice that before the third, and so on (with jitter, so racing requests part ways).
A retry is only possible where the transaction starts: called inside a transaction that is
already open (the caller's own, or ``ATOMIC_REQUESTS``), the work runs once, in a savepoint, and
a failure propagates to whoever owns the transaction.

*Failures.* :func:`is_unavailable` tells the doors which database errors mean "not now"
(SCIM answers 503 with ``Retry-After``, SAML a "try again" page with 503) rather than a bug.

*Deltas written last.* A write may leave counts to add (:mod:`.counters`: a connection's
users and groups): :func:`write_deltas` collects them while a write transaction runs, and the
outermost :func:`write_transaction` applies them through the registered appliers after its
work, as the transaction's last statements (so a counter row's lock is the last one taken).

*Case folding.* SQLite's ``UPPER``, ``LOWER`` and ``LIKE`` fold ASCII letters only. Every
SQLite connection gets a deterministic ``dp_casefold`` function (Python's ``str.casefold``) that
:class:`CaseFold` and :class:`CaseFoldLower` use there; other databases keep their own
``UPPER``/``LOWER``, which fold non-ASCII letters and can be served by expression indexes.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.backends.signals import connection_created
from django.db.models import Func, Value
from django.db.models.functions import Lower, Upper
from django.db.models.lookups import Exact, In

from .conf import provisioning_settings

logger = logging.getLogger("django_provisioning")

T = TypeVar("T")

#: SQLSTATEs of failures that a new transaction may not meet: serialization failure and
#: deadlock (PostgreSQL, and the SQL standard's class 40).
RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
#: MySQL/MariaDB: ER_LOCK_DEADLOCK.
RETRYABLE_MYSQL_CODES = frozenset({1213})
#: SQLite's messages when another connection holds the lock it needs.
SQLITE_LOCKED = ("database is locked", "database table is locked")
SQLITE_CASEFOLD = "dp_casefold"


def is_retryable(exc: BaseException) -> bool:
    """True for a deadlock, a serialization failure or a SQLite lock: worth a new transaction."""
    if not isinstance(exc, OperationalError):
        return False
    cause = exc.__cause__
    state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if state in RETRYABLE_SQLSTATES:
        return True
    args = getattr(cause, "args", ())
    if args and args[0] in RETRYABLE_MYSQL_CODES:
        return True
    message = str(exc).lower()
    return any(text in message for text in SQLITE_LOCKED)


def is_unavailable(exc: BaseException) -> bool:
    """True when the database cannot serve now: locked, unreachable, or the connection is lost.

    Django raises ``OperationalError`` for these (and ``InterfaceError`` for a connection that
    went away); the request may succeed later, so the client is told to retry.
    """
    return isinstance(exc, (OperationalError, InterfaceError))


class RetryWrite(Exception):
    """Raised inside a write transaction to run it again from the start.

    For a race that the next attempt resolves by itself (a name another transaction took
    since this one looked: the next attempt sees it taken, and picks another). On the last
    attempt, or in a transaction its caller owns, *final* is raised instead.
    """

    def __init__(self, final: Exception) -> None:
        super().__init__(str(final))
        self.final = final


_frames = threading.local()
#: Called with the deltas of an outermost write, at its end, inside its transaction.
DELTA_APPLIERS: list[Callable[[Counter[Any]], None]] = []


def write_deltas() -> Counter[Any] | None:
    """The deltas of the running write transaction (add to them), or None outside one."""
    stack: list[Counter[Any]] = getattr(_frames, "stack", [])
    return stack[-1] if stack else None


def _run(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """*func* with a frame of deltas: merged into the enclosing write's, or applied last."""
    stack: list[Counter[Any]] = _frames.__dict__.setdefault("stack", [])
    frame: Counter[Any] = Counter()
    stack.append(frame)
    try:
        result = func(*args, **kwargs)
    finally:
        stack.pop()  # a failed attempt's deltas go with its rolled-back writes
    if stack:
        stack[-1].update(frame)
    elif +frame or -frame:
        for apply in DELTA_APPLIERS:
            apply(frame)
    return result


def write_transaction(func: Callable[..., T]) -> Callable[..., T]:
    """Run *func* as one transaction, retried on retryable failures (see the module docstring).

    *func* must start from the database, not from objects a previous attempt changed: the core
    locks and re-reads the rows it writes at the start of every attempt.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        if transaction.get_connection().in_atomic_block:
            # The caller owns the transaction: only the caller could start it again.
            try:
                with transaction.atomic():
                    return _run(func, *args, **kwargs)
            except RetryWrite as exc:
                raise exc.final from exc
        attempts = max(1, int(provisioning_settings.WRITE_ATTEMPTS))
        backoff = max(0.0, float(provisioning_settings.WRITE_RETRY_BACKOFF))
        attempt = 1
        while True:
            done = False
            committed: list[bool] = []
            try:
                with transaction.atomic():
                    # Runs first of the commit hooks, once the COMMIT succeeded: an error
                    # after it is a hook's (a host's on_commit), never worth a second write.
                    transaction.on_commit(functools.partial(committed.append, True))
                    result = _run(func, *args, **kwargs)
                    done = True
                return result
            except IntegrityError as exc:
                if not done or committed:
                    raise
                # Refused by the COMMIT itself: a deferred foreign key (PostgreSQL checks
                # them at commit) names a row another transaction deleted since this one
                # read it (a member deleted during a membership change). The next attempt
                # reads again and sees it gone; past the attempts, a retryable answer.
                if attempt >= attempts:
                    raise OperationalError(f"Rows changed during the write: {exc}") from exc
                logger.warning(
                    "%s: attempt %d refused at commit (%s); retrying",
                    func.__qualname__,
                    attempt,
                    exc,
                )
            except RetryWrite as exc:
                if attempt >= attempts:
                    raise exc.final from exc
                logger.info(
                    "%s: attempt %d lost a race (%s); retrying", func.__qualname__, attempt, exc
                )
            except OperationalError as exc:
                if committed or attempt >= attempts or not is_retryable(exc):
                    raise
                logger.warning(
                    "%s: attempt %d of %d failed (%s); retrying",
                    func.__qualname__,
                    attempt,
                    attempts,
                    exc,
                )
            # Jitter: two requests that deadlocked each other should not meet again.
            time.sleep(backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))  # noqa: S311
            attempt += 1

    return wrapper


# ---------------------------------------------------------------------------- case folding


def _casefold(value: Any) -> Any:
    return value.casefold() if isinstance(value, str) else value


def register_sqlite_functions(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Give every new SQLite connection ``dp_casefold`` (deterministic, so usable in indexes)."""
    if connection.vendor == "sqlite":
        connection.connection.create_function(SQLITE_CASEFOLD, 1, _casefold, deterministic=True)


connection_created.connect(register_sqlite_functions, dispatch_uid="django_provisioning.sqlite")


class CaseFold(Upper):
    """Case-insensitive equality and matching: ``UPPER`` (as Django's ``iexact``), or a real
    case fold on SQLite, whose ``UPPER`` leaves non-ASCII letters alone."""

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, function=SQLITE_CASEFOLD, **extra)


#: The letters outside ASCII whose case fold is ASCII, by that fold: a stored name spelled with
#: them folds to an ASCII name, and SQLite's ``LOWER`` leaves them as they are.
_FOLDED_FROM = {
    "k": "\u212a",  # KELVIN SIGN
    "s": "\u017f",  # LONG S
    "ss": "\u00df\u1e9e",
    "ff": "\ufb00",
    "fi": "\ufb01",
    "fl": "\ufb02",
    "ffi": "\ufb03",
    "ffl": "\ufb04",
    "st": "\ufb05\ufb06",
}
#: At most this many spellings are looked up through the ``LOWER()`` index (see
#: :func:`lower_spellings`; under the 999 parameters of older SQLite builds); a name with more
#: (many an "s", "st" or "ss": "sebastian.schuster@business.de" has 768) is folded row by row.
MAX_SPELLINGS = 900
#: The same on PostgreSQL, whose statements take up to 65,535 parameters.
MAX_SPELLINGS_POSTGRESQL = 2_000


def lower_spellings(folded: str, limit: int = MAX_SPELLINGS) -> list[str] | None:
    """Every ``LOWER(name)`` of SQLite (ASCII letters lowered, others kept) of a name whose
    case fold is the ASCII *folded*, or None when there are more than *limit*: *folded*
    itself and its spellings with the letters of ``_FOLDED_FROM`` ("stra\u00dfe")."""
    spellings: list[list[str]] = [[""] for _ in range(len(folded) + 1)]
    for end in range(len(folded) - 1, -1, -1):  # spellings[i]: those of folded[i:]
        found = [folded[end] + rest for rest in spellings[end + 1]]
        for fold, letters in _FOLDED_FROM.items():
            if folded.startswith(fold, end):
                rests = spellings[end + len(fold)]
                found += [letter + rest for letter in letters for rest in rests]
        if len(found) > limit:
            return None
        spellings[end] = found
    return spellings[0]


class SameFolded(Exact):
    """*lhs* equal to the string *value* ignoring case, to narrow candidates that the caller
    compares again in Python: ``UPPER(col) = UPPER(%s)`` (the opt-in
    :class:`~.user_indexes.AddUserLookupIndexes` serves it on PostgreSQL); on SQLite, for an
    ASCII *value*, ``LOWER(col) IN (%s, ...)`` with SQLite's own ``LOWER`` (served by the same
    operation's index there), else the real case fold of every row (a Python function, a scan).

    The ``IN`` list holds every spelling SQLite's ``LOWER`` gives a name that folds to the
    value (:func:`lower_spellings`: "stra\u00dfe" for "strasse", the Kelvin sign for "k"), so
    it finds what the case fold of every row found; that was 15 ms per account created at
    20,000 users, and grew with the table. On PostgreSQL an ASCII *value* is likewise
    ``UPPER(col) IN (UPPER(%s), ...)`` over those spellings (PostgreSQL upper-cases them with
    the column's own rules, so the index on ``UPPER(col)`` serves it): ``UPPER(col) =
    UPPER(%s)`` alone missed a stored "stra\u00dfe", whose ``UPPER`` keeps the letter."""

    def __init__(self, lhs: Any, value: str) -> None:
        self.value = value
        super().__init__(CaseFold(lhs), CaseFold(Value(value)))

    def as_sqlite(self, compiler: Any, connection: Any) -> Any:
        spellings = lower_spellings(self.value.lower()) if self.value.isascii() else None
        if spellings is not None:
            column = self.lhs.source_expressions[0]
            return compiler.compile(In(Lower(column), spellings))
        return self.as_sql(compiler, connection)

    def as_postgresql(self, compiler: Any, connection: Any) -> Any:
        spellings = None
        if self.value.isascii():
            spellings = lower_spellings(self.value.lower(), limit=MAX_SPELLINGS_POSTGRESQL)
        if spellings is None or len(spellings) == 1:
            return self.as_sql(compiler, connection)
        column_sql, column_params = compiler.compile(self.lhs)  # UPPER(col), as indexed
        marks = ", ".join(["UPPER(%s)"] * len(spellings))
        return f"{column_sql} IN ({marks})", (*column_params, *spellings)


class CaseFoldLower(Lower):
    """Case-insensitive ordering: ``LOWER``, or the same real case fold on SQLite."""

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, function=SQLITE_CASEFOLD, **extra)


class NotIndexed(Func):
    """The value of its one expression, written ``+col`` on SQLite, whose planner then does
    not pick an index for the comparison: for a join that must start from another table.

    Without ``ANALYZE`` statistics (Django never runs it), SQLite starts ``auth_user_groups
    JOIN ... external group WHERE connection = ? AND user IN (...)`` from the connection's
    groups (every one of them) rather than from the few users' memberships."""

    template = "%(expressions)s"

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="+%(expressions)s", **extra)
