"""``POST /Bulk`` (RFC 7644 §3.7): many operations on Users and Groups in one request.

Each operation is dispatched to the endpoint it names (``/Users``, ``/Users/{id}``, ``/Groups``,
``/Groups/{id}``) as a request of its own, authenticated as the Bulk request was (the same
connection, no second token check), so it is validated, scoped, written and rendered exactly
as it would be alone; and, as the RFC defines Bulk, each operation is its own transaction:
one that fails leaves nothing half-written, and those before it stay.

``bulkId`` references (``"bulkId:qwerty"`` anywhere in an operation's path or data) are
replaced by the id of the resource the referenced ``POST`` created. An operation whose
references are not created yet waits until they are, whatever the order in the request. A
circle of references (two new groups naming each other as members, §3.7.1) is broken the
RFC's way: one group is created without the members that are not created yet, and those are
added by a ``PATCH`` once they exist. References that cannot be resolved (an unknown
``bulkId``, an operation that failed, a circle without ``members`` to defer) fail their
operation with ``409``, naming the ``bulkId``.

``failOnErrors`` stops the processing after that many failed operations (the rest are not
run, and not in the response). ``SCIM_BULK_MAX_OPERATIONS`` operations and
``SCIM_MAX_PAYLOAD_SIZE`` bytes at most (``413``), both advertised in
``/ServiceProviderConfig``.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.handlers.wsgi import WSGIRequest
from django.urls import Resolver404, resolve
from rest_framework.request import Request
from rest_framework.response import Response

from ..conf import provisioning_settings
from . import errors
from .base import ScimView

BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
BULK_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

_PATH = re.compile(r"^/(?P<type>Users|Groups)(?:/(?P<id>[^/?#]+))?/?$")
_REFERENCE = re.compile(r"^bulkId:(?P<id>.+)$")
_PATH_REFERENCE = re.compile(r"/bulkId:(?P<id>[^/?#]+)")
_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
#: Headers of the Bulk request an operation must not inherit.
_OWN_HEADERS = ("CONTENT_LENGTH", "CONTENT_TYPE", "HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH")


@dataclass
class Operation:
    index: int
    method: str
    path: str
    bulk_id: str | None
    version: str | None
    data: Any
    refs: set[str] = field(default_factory=set)
    #: Members held back to break a circle: added by a PATCH once their groups exist.
    deferred_members: list[Any] = field(default_factory=list)
    result: dict[str, Any] | None = None


#: Deepest nesting of one operation's ``data`` (a SCIM resource needs four levels at most).
MAX_DEPTH = 32


def _too_deep(value: Any) -> bool:
    """Whether *value* nests deeper than :data:`MAX_DEPTH` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def _references(value: Any) -> set[str]:
    """The bulkIds *value* refers to (``"bulkId:x"`` strings, at any depth)."""
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        return {match["id"]} if match else set()
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


def _substitute(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        match = _REFERENCE.match(value)
        return ids.get(match["id"], value) if match else value
    if isinstance(value, dict):
        return {k: _substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, ids) for v in value]
    return value


def _path_references(path: str) -> set[str]:
    return {m["id"] for m in _PATH_REFERENCE.finditer(path)}


def _substitute_path(path: str, ids: dict[str, str]) -> str:
    return _PATH_REFERENCE.sub(lambda m: f"/{ids.get(m['id'], m[0][1:])}", path)


def _parse(body: Any) -> tuple[list[Operation], int | None]:
    """The operations of a BulkRequest, checked for shape; (operations, failOnErrors)."""
    if not isinstance(body, dict):
        raise errors.InvalidSyntax("The request body must be a JSON object.")
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or BULK_REQUEST not in schemas:
        raise errors.InvalidSyntax(f"'schemas' must be [\"{BULK_REQUEST}\"].")
    raw_ops = body.get("Operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise errors.InvalidSyntax("'Operations' must be a non-empty list.")
    limit = int(provisioning_settings.SCIM_BULK_MAX_OPERATIONS)
    if len(raw_ops) > limit:
        raise errors.PayloadTooLarge(
            f"The request has {len(raw_ops)} operations; at most {limit} are allowed."
        )
    fail_on_errors = body.get("failOnErrors")
    if fail_on_errors is not None and (
        isinstance(fail_on_errors, bool) or not isinstance(fail_on_errors, int)
    ):
        raise errors.InvalidSyntax("'failOnErrors' must be an integer.")
    if fail_on_errors is not None and fail_on_errors < 1:
        raise errors.InvalidValue("'failOnErrors' must be 1 or more.")
    operations = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_ops):
        if not isinstance(raw, dict):
            raise errors.InvalidSyntax(f"Operation {index + 1} must be a JSON object.")
        method = str(raw.get("method") or "").upper()
        bulk_id = raw.get("bulkId")
        if bulk_id is not None and (not isinstance(bulk_id, str) or not bulk_id):
            raise errors.InvalidSyntax(f"Operation {index + 1}: 'bulkId' must be a string.")
        if bulk_id is not None:
            if bulk_id in seen:
                raise errors.InvalidValue(f"bulkId {bulk_id!r} is used by two operations.")
            seen.add(bulk_id)
        version = raw.get("version")
        if _too_deep(raw.get("data")):
            raise errors.InvalidSyntax(
                f"Operation {index + 1}: 'data' nests deeper than {MAX_DEPTH} levels."
            )
        operation = Operation(
            index=index,
            method=method,
            path=str(raw.get("path") or ""),
            bulk_id=bulk_id,
            version=version if isinstance(version, str) else None,
            data=raw.get("data"),
        )
        operation.refs = _references(operation.data) | _path_references(operation.path)
        operations.append(operation)
    return operations, fail_on_errors


class BulkView(ScimView):
    """``POST /Bulk``: see the module docstring."""

    resource_name = "Bulk"

    def post(self, request: Request) -> Response:
        operations, fail_on_errors = _parse(request.data)
        Runner(self, request, operations, fail_on_errors).run()
        return Response(
            {
                "schemas": [BULK_RESPONSE],
                "Operations": [op.result for op in operations if op.result is not None],
            }
        )


class Runner:
    """Runs the operations of one Bulk request in an order their references allow."""

    def __init__(
        self,
        view: BulkView,
        request: Request,
        operations: list[Operation],
        fail_on_errors: int | None,
    ) -> None:
        self.view = view
        self.request = request
        self.operations = operations
        self.fail_on_errors = fail_on_errors
        self.ids: dict[str, str] = {}  # bulkId -> SCIM id, of the POSTs that succeeded
        self.failed: set[str] = set()  # bulkIds whose POST failed
        self.errors = 0
        # The SCIM root as the URLconf sees it (path_info: without a SCRIPT_NAME prefix).
        info = request._request.path_info.rstrip("/")
        self.base = info[: info.rfind("/")] if "/" in info else ""

    def stopped(self) -> bool:
        return self.fail_on_errors is not None and self.errors >= self.fail_on_errors

    def run(self) -> None:
        pending = list(self.operations)
        known = {op.bulk_id for op in self.operations if op.bulk_id and op.method == "POST"}
        while pending and not self.stopped():
            ready = [op for op in pending if self._ready(op, known)]
            if not ready:
                ready = self._break_circle(pending)
            for op in ready:
                if self.stopped():
                    break
                pending.remove(op)
                self._execute(op, known)
        for op in self.operations:  # groups created with members held back (a circle)
            if op.deferred_members and op.result and op.result["status"] == "201":
                if self.stopped():
                    location = op.result.get("location")
                    self._fail(
                        op,
                        errors.Conflict(
                            "The group was created without the members it names that did "
                            "not exist yet: processing stopped (failOnErrors) before they "
                            "could be added."
                        ),
                    )
                    if location and op.result is not None:
                        op.result["location"] = location
                else:
                    self._add_deferred_members(op)

    def _ready(self, op: Operation, known: set[str]) -> bool:
        """No reference to a POST that has not run yet (unknown or failed ones fail it)."""
        return all(ref in self.ids or ref in self.failed or ref not in known for ref in op.refs)

    def _break_circle(self, pending: list[Operation]) -> list[Operation]:
        """Nothing is ready: a circle. Hold back the members that wait, RFC 7644 §3.7.1."""
        for op in pending:
            members = op.data.get("members") if isinstance(op.data, dict) else None
            if op.method != "POST" or not op.path.startswith("/Groups"):
                continue
            if not isinstance(members, list) or not members:
                continue
            waiting = [m for m in members if _references(m) - set(self.ids)]
            rest_refs = _references({k: v for k, v in op.data.items() if k != "members"})
            if not waiting or rest_refs - set(self.ids):
                continue
            op.deferred_members = waiting
            op.data = {**op.data, "members": [m for m in members if m not in waiting]}
            op.refs = _references(op.data) | _path_references(op.path)
            return [op]
        # No circle can be broken: every waiting operation fails.
        for op in pending:
            waiting = sorted(op.refs - set(self.ids))
            self._fail(op, errors.Conflict(f"Circular bulkId references: {', '.join(waiting)}."))
        pending.clear()
        return []

    def _execute(self, op: Operation, known: set[str]) -> None:
        unresolved = sorted(op.refs - set(self.ids))
        if unresolved:
            ref = unresolved[0]
            why = "failed" if ref in self.failed else "is not defined in this request"
            self._fail(op, errors.Conflict(f"bulkId {ref!r} {why}."))
            return
        path = _substitute_path(op.path, self.ids)
        try:
            self._check(op, path)
        except errors.ScimError as exc:
            self._fail(op, exc)
            return
        try:
            response = self._dispatch(op.method, path, _substitute(op.data, self.ids), op.version)
        except Exception as exc:
            # The operations before this one are committed: never turn their success into
            # one failed Bulk. (The endpoint answers its own errors; this is for the rest.)
            self._fail(op, exc)
            return
        self._record(op, response)

    def _check(self, op: Operation, path: str) -> None:
        if op.method not in _METHODS:
            raise errors.InvalidSyntax(f"Unsupported method {op.method!r}.")
        match = _PATH.match(path)
        if match is None:
            raise errors.InvalidPath(f"Unsupported path {path!r}: /Users or /Groups, [/{{id}}].")
        if (op.method == "POST") != (match["id"] is None):
            raise errors.InvalidPath(f"{op.method} is not allowed on {path!r}.")
        if op.method == "POST" and not op.bulk_id:
            raise errors.InvalidSyntax("A POST operation needs a 'bulkId'.")
        if op.method in ("POST", "PUT", "PATCH") and not isinstance(op.data, dict):
            raise errors.InvalidSyntax(f"{op.method} needs 'data', a JSON object.")

    def _dispatch(self, method: str, path: str, data: Any, version: str | None) -> Response:
        """Run one operation through its endpoint, authenticated as the Bulk request."""
        raw = self.request._request
        body = json.dumps(data).encode() if data is not None else b""
        environ = {k: v for k, v in raw.META.items() if k not in _OWN_HEADERS}
        full_path = f"{self.base}{path}"
        environ.update(
            REQUEST_METHOD=method,
            PATH_INFO=full_path,  # SCRIPT_NAME (a deployment's prefix) is the Bulk request's
            QUERY_STRING="",
            CONTENT_TYPE="application/scim+json",
            CONTENT_LENGTH=str(len(body)),
        )
        environ["wsgi.input"] = io.BytesIO(body)
        if version:
            environ["HTTP_IF_MATCH"] = version
        inner = WSGIRequest(environ)
        # DRF's forced authentication: the connection the Bulk request authenticated as.
        inner._force_auth_user = self.request.user  # type: ignore[attr-defined]
        inner._force_auth_token = self.request.auth  # type: ignore[attr-defined]
        try:
            match = resolve(full_path)
        except Resolver404:
            raise errors.NotFound("No such SCIM endpoint.") from None
        response: Response = match.func(inner, *match.args, **match.kwargs)
        return response

    def _record(self, op: Operation, response: Response) -> None:
        status = int(response.status_code)
        result: dict[str, Any] = {"method": op.method, "status": str(status)}
        if op.bulk_id:
            result["bulkId"] = op.bulk_id
        # A group's body is streamed (its members): never read here; the Location header
        # says where the resource is, and its id.
        body = getattr(response, "data", None)
        data = body if isinstance(body, dict) else {}
        location = response.get("Location") or (data.get("meta") or {}).get("location")
        if location:
            result["location"] = location
        if response.get("ETag"):
            result["version"] = response["ETag"]
        if status >= 400:
            result["response"] = data
            self.errors += 1
            if op.bulk_id:
                self.failed.add(op.bulk_id)
        elif op.method == "POST" and op.bulk_id:
            created = data.get("id") or (
                str(location).rstrip("/").rsplit("/", 1)[-1] if location else None
            )
            if created:
                self.ids[op.bulk_id] = str(created)
        op.result = result

    def _fail(self, op: Operation, exc: Exception) -> None:
        self._record(op, self.view.handle_exception(exc))

    def _add_deferred_members(self, op: Operation) -> None:
        """The second half of a broken circle: add the members held back."""
        created = dict(op.result or {})
        location = str(created.get("location", ""))
        path = location[location.find("/Groups/") :] if "/Groups/" in location else ""
        members = _substitute(op.deferred_members, self.ids)
        missing = sorted(_references(members))
        if missing or not path:
            # The group exists (its location says where) without these members.
            names = ", ".join(m.removeprefix("bulkId:") for m in missing) or "held back"
            self._fail(
                op,
                errors.Conflict(
                    f"The group was created, but not with its members {names}: "
                    "their operations failed."
                ),
            )
        else:
            body = {
                "schemas": [PATCH_OP],
                "Operations": [{"op": "add", "path": "members", "value": members}],
            }
            try:
                response = self._dispatch("PATCH", path, body, None)
            except Exception as exc:
                response = self.view.handle_exception(exc)
            if int(response.status_code) < 400:
                if op.result is not None and response.get("ETag"):
                    op.result["version"] = response["ETag"]
                return
            self._record(op, response)
        if op.result is not None and created.get("location"):
            op.result["location"] = created["location"]
