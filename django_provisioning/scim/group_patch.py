"""A Group PATCH (RFC 7644 §3.5.2) read into the core's :class:`GroupChange`.

Members are not patched in a document: a 50,000-member group is never loaded. Every operation
on ``members`` becomes a set change of :class:`~django_provisioning.group_writes.Members`
(taken in order, applied as one net change), every other one a new ``displayName`` or
``externalId``. The forms identity providers send, all accepted (``op`` in any case):

- ``add`` ``members`` with a list of ``{"value": id}`` (``$ref``, ``display``, ``type``
  ``"User"`` may be there; ``"$ref": null`` too);
- ``remove`` ``members[value eq "id"]`` (or ``value eq "a" or value eq "b"``);
- ``remove`` ``members`` with a ``value`` list (Entra's older form); without one: every
  member a door granted;
- ``replace`` ``members`` with a list (the members become exactly those);
- no-path ``replace`` / ``add`` of ``{"displayName": ..., "externalId": ..., "members": ...}``
  (Okta renames so and repeats it with every membership update; its ``id`` is read-only and
  ignored, as ``meta`` and ``schemas`` are);
- ``replace`` / ``add`` / ``remove`` of ``displayName`` (``remove`` refused: it is required)
  and ``externalId``.
"""

from __future__ import annotations

from typing import Any

from ..group_writes import GroupChange, Members
from ..schema.definitions import GROUP_RESOURCE
from . import errors
from .filtering.nodes import Compare, Filter, Or
from .patch_cost import member, operations_of
from .patch_targets import Step, parse_operation

__all__ = ["group_change", "member_ids"]


def member_ids(value: Any) -> list[str]:
    """The SCIM ids of a ``members`` value: a list of member objects (or one object)."""
    items = value if isinstance(value, list) else [value]
    ids: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            raise errors.InvalidValue("Each member must be an object with a 'value'.")
        _present, member_id = member(item, "value")
        if not isinstance(member_id, str) or not member_id:
            raise errors.InvalidValue("Each member needs a 'value': the id of a User.")
        _present, kind = member(item, "type")
        if kind is not None and (not isinstance(kind, str) or kind.lower() != "user"):
            raise errors.InvalidValue(
                f"Member {member_id[:64]!r}: only Users can be members (type 'User')."
            )
        ids.append(member_id)
    return ids


def _filtered_ids(expr: Filter) -> list[str]:
    """The ids of ``value eq "a" [or value eq "b" ...]``, the filter of a removal."""
    if isinstance(expr, Or):
        return _filtered_ids(expr.left) + _filtered_ids(expr.right)
    if (
        isinstance(expr, Compare)
        and expr.op == "eq"
        and expr.path.sub is None
        and expr.path.attr.lower() == "value"
        and isinstance(expr.value, str)
    ):
        return [expr.value]
    raise errors.InvalidFilter(
        "A member filter names members by id: 'members[value eq \"id\"]' (or several, "
        "joined with 'or')."
    )


def _text(value: Any, name: str, *, required: bool) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise errors.InvalidValue(f"'{name}' must be a non-empty string.")
    return value


def _attributes(change: GroupChange, op: str, value: Any) -> None:
    """A no-path ``add`` / ``replace``: its object's attributes, each as its own path."""
    if not isinstance(value, dict):
        raise errors.InvalidValue(f"An '{op}' operation without a path needs an object.")
    for key, item in value.items():
        if not isinstance(key, str):
            raise errors.InvalidPath("Attribute names must be strings.")
        step = parse_operation(GROUP_RESOURCE, {"op": op, "path": key, "value": item})
        _apply(change, step)


def _apply(change: GroupChange, step: Step) -> None:
    target = step.target
    if target is None:
        return  # read-only (id, meta) or schemas: ignored
    if target.attr is None:
        if step.op == "remove":
            raise errors.NoTarget("A 'remove' operation needs the path of an attribute.")
        _attributes(change, step.op, step.value)
        return
    name = target.attr.name
    if name == "members":
        _members(change.members, step)
    elif name == "displayName":
        if step.op == "remove":
            raise errors.InvalidValue("'displayName' is required: it cannot be removed.")
        change.display_name = _text(step.value, name, required=True)
    elif name == "externalId":
        change.external_id = (
            None if step.op == "remove" else _text(step.value, name, required=False)
        )
    else:  # pragma: no cover - the Group schema has no other writable attribute
        raise errors.InvalidPath(f"'{name}' cannot be changed.")


def _members(members: Members, step: Step) -> None:
    target = step.target
    assert target is not None
    if target.sub is not None:
        raise errors.InvalidPath("Change members as a whole ('members' or 'members[...]').")
    if target.value_filter is not None:
        if step.op != "remove":
            raise errors.InvalidPath(
                f"'{step.op}' on a member filter is not supported: 'add' or 'replace' 'members'."
            )
        members.removed(_filtered_ids(target.value_filter))
    elif step.op == "add":
        members.added(member_ids(step.value))
    elif step.op == "replace":
        members.replaced(member_ids(step.value) if step.value is not None else [])
    elif step.value is not None and step.value != []:
        members.removed(member_ids(step.value))
    else:
        members.cleared()


def group_change(body: Any) -> GroupChange:
    """The change a PatchOp *body* makes to a group (checked whole before anything is
    written: a bad operation anywhere refuses the request)."""
    change = GroupChange()
    for operation in operations_of(body):
        _apply(change, parse_operation(GROUP_RESOURCE, operation))
    return change
