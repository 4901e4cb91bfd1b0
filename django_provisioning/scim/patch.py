"""SCIM PATCH (RFC 7644 §3.5.2) applied to a canonical document, without a database.

:func:`apply_patch` takes the current canonical document (see
:func:`~django_provisioning.schema.document.canonicalize`) and a PatchOp body, and returns a new
document plus the password, if one was sent. The caller re-validates the result with
``canonicalize()``; this module decides *where* values go and raises the protocol's errors.
Every operation is parsed and its path resolved (:mod:`.patch_targets`) and the request's
total work counted (:mod:`.patch_cost`) before any is applied: over ``SCIM_PATCH_MAX_WORK`` it
is ``tooMany``. The rules where the RFC leaves room or real clients disagree are listed in the
documentation (``docs/scim.rst``, "Modifying: PATCH"). Value filters in paths are
:mod:`.filtering.value_filter`; adding or removing N elements is linear.
"""

from __future__ import annotations

import copy
from typing import Any

from ..conf import provisioning_settings
from ..exceptions import SchemaError
from ..schema.definitions import Attribute, ResourceType
from ..schema.document import check_text, check_value_count, coerce_value
from .attribute_values import (
    append_new,
    check_immutable_element,
    coerce_many,
    coerce_one,
    enforce_primary,
    remove_listed,
)
from .errors import InvalidValue, Mutability, NoTarget, ScimError, from_core
from .filtering.value_filter import element_matches, seed_element
from .patch_cost import MAX_OPERATIONS, WorkMeter, operations_of  # noqa: F401
from .patch_targets import Step, Target, parse_operation, resolve_target

_EMPTY: tuple[Any, ...] = (None, "", [], {})


def apply_patch(
    document: dict[str, Any], body: Any, resource: ResourceType
) -> tuple[dict[str, Any], str | None]:
    """Apply a PatchOp *body* to *document*; return (new document, password or None).

    Every operation is parsed and its work counted first (:mod:`.patch_cost`): a request
    over ``SCIM_PATCH_MAX_WORK`` is ``tooMany`` before the document is even copied.
    Raises only :class:`~.errors.ScimError`: what the schema refuses while coercing values
    is translated by :func:`~.errors.from_core`.
    """
    original = document if isinstance(document, dict) else {}
    try:
        steps = plan_patch(original, body, resource)[0]
        patch = _Patch(copy.deepcopy(original), resource)
        for step in steps:
            patch.apply(step)
        patch.finish(original)
    except SchemaError as exc:
        raise from_core(exc) from exc
    return patch.doc, patch.password


def plan_patch(
    document: dict[str, Any], body: Any, resource: ResourceType, *, limit: int | None = None
) -> tuple[list[Step], int]:
    """The parsed operations of *body* and the units of work they ask for.

    Raises the protocol's errors for a malformed body, and :class:`TooMany` as soon as the
    count passes *limit* (default: the ``SCIM_PATCH_MAX_WORK`` setting).
    """
    operations = operations_of(body)
    if limit is None:
        limit = provisioning_settings.SCIM_PATCH_MAX_WORK
    meter = WorkMeter(document, limit, lambda key: resolve_target(resource, key, lenient=True))
    steps = []
    for operation in operations:
        step = parse_operation(resource, operation)
        meter.count(step.op, step.target, step.value)
        steps.append(step)
    return steps, meter.total


class _Patch:
    """A copy of a document, the operations applied to it one by one."""

    def __init__(self, doc: dict[str, Any], resource: ResourceType) -> None:
        self.doc = doc
        self.resource = resource
        self.password: str | None = None

    # -- operations ---------------------------------------------------------------------

    def apply(self, step: Step) -> None:
        if step.target is not None:
            if step.op == "remove":
                self.remove(step.target, step.value)
            else:
                self.set(step.op, step.target, step.value)
        # Bound the work of the next operations, not only the size of the final document.
        containers = [self.doc] + [
            v
            for k, v in self.doc.items()
            if isinstance(v, dict) and self.resource.extension(k) is not None
        ]
        for container in containers:
            for name, items in container.items():
                if isinstance(items, list):
                    check_value_count(items, name)

    def finish(self, original: dict[str, Any]) -> None:
        for attr in self.resource.schema.attributes:
            if attr.required and original.get(attr.name) not in _EMPTY:
                if self.doc.get(attr.name) in (None, [], {}):
                    raise _required_removed(attr)
        for key in list(self.doc):
            value = self.doc[key]
            if isinstance(value, dict) and self.resource.extension(key) is not None:
                for sub_key in [k for k, v in value.items() if v in (None, [], {})]:
                    del value[sub_key]
            if value in (None, [], {}):
                del self.doc[key]

    # -- containers ---------------------------------------------------------------------

    def container(self, urn: str | None, *, create: bool) -> dict[str, Any] | None:
        if urn is None:
            return self.doc
        found = self.doc.get(urn)
        if isinstance(found, dict):
            return found
        if not create:
            return None
        self.doc[urn] = {}
        return self.doc[urn]

    # -- add / replace ------------------------------------------------------------------

    def set(self, op: str, target: Target, value: Any) -> None:
        attr = target.attr
        if attr is None:
            self.set_schema(op, target.urn, value)
            return
        if target.urn is None and attr.name == "password":
            if value is not None and not isinstance(value, str):
                raise InvalidValue("Attribute 'password' must be a string.")
            if value is not None:
                self.password = check_text(value, "password")
            return
        container = self.container(target.urn, create=True)
        assert container is not None
        if target.value_filter is not None:
            self.set_filtered(op, target, container, value)
        elif target.sub is not None:
            self.set_sub(op, target, container, value)
        else:
            self.set_attribute(op, target, container, value)

    def set_schema(self, op: str, urn: str | None, value: Any) -> None:
        if value is None:
            if op == "replace" and urn is not None:
                self.doc.pop(urn, None)
            return
        if not isinstance(value, dict):
            raise InvalidValue("The value must be a JSON object of attributes.")
        for key, item in value.items():
            if not isinstance(key, str):
                continue
            target = resolve_target(self.resource, f"{urn}:{key}" if urn else key, lenient=True)
            if target is not None:
                self.set(op, target, item)

    def set_attribute(self, op: str, target: Target, container: dict[str, Any], value: Any) -> None:
        attr = target.attr
        assert attr is not None
        current = container.get(attr.name)
        if value is None or (attr.multi_valued and value == []):
            if op == "replace":
                self.unassign(target, container)
            return
        if attr.multi_valued:
            items = coerce_many(attr, value, target.label)
            existing = current if isinstance(current, list) else []
            if op == "add":
                new, touched = append_new(existing, items)
            else:
                if attr.mutability == "immutable" and existing and items != existing:
                    raise Mutability(f"Attribute '{target.label}' is immutable.")
                new, touched = items, list(range(len(items)))
            container[attr.name] = enforce_primary(new, touched, target.label)
            return
        new_value = coerce_one(attr, value, target.label)
        if attr.type == "complex" and isinstance(current, dict):
            check_immutable_element(attr, current, {**current, **new_value}, target.label)
            new_value = {**current, **new_value}
        if attr.mutability == "immutable" and current not in _EMPTY and current != new_value:
            raise Mutability(f"Attribute '{target.label}' is immutable.")
        container[attr.name] = new_value

    def set_sub(self, op: str, target: Target, container: dict[str, Any], value: Any) -> None:
        attr, sub = target.attr, target.sub
        assert attr is not None and sub is not None
        sub_value = None if value is None else _coerce_sub(sub, value, target.label)
        current = container.get(attr.name)
        if not attr.multi_valued:
            element = dict(current) if isinstance(current, dict) else {}
            items, touched = [element], [0]
        else:
            items = [dict(e) for e in current if isinstance(e, dict)] if current else []
            if not items:
                items = [{}]
            touched = list(range(len(items)))
        for index in touched:
            old = items[index]
            new = {k: v for k, v in old.items() if k != sub.name}
            if sub_value is not None:
                new[sub.name] = sub_value
            elif op == "add":
                continue
            check_immutable_element(attr, old, new, target.label)
            items[index] = new
        items = [e for e in items if e]
        if attr.multi_valued:
            container[attr.name] = enforce_primary(items, list(range(len(items))), target.label)
            return
        new_value = items[0] if items else None
        if attr.mutability == "immutable" and current not in _EMPTY and new_value != current:
            raise Mutability(f"Attribute '{target.label}' is immutable.")
        container[attr.name] = new_value

    def set_filtered(self, op: str, target: Target, container: dict[str, Any], value: Any) -> None:
        attr, sub, expr = target.attr, target.sub, target.value_filter
        assert attr is not None and expr is not None
        current = container.get(attr.name)
        items = [e for e in current if isinstance(e, dict)] if isinstance(current, list) else []
        matched = [i for i, e in enumerate(items) if element_matches(attr, expr, e)]
        if value is None:
            if op == "replace" and matched:
                for i in matched:
                    new: dict[str, Any] = {}
                    if sub is not None:
                        new = {k: v for k, v in items[i].items() if k != sub.name}
                        check_immutable_element(attr, items[i], new, target.label)
                    items[i] = new
                container[attr.name] = [e for e in items if e]
            return
        if sub is None:
            element = coerce_one(attr, value, target.label)
        else:
            element = {sub.name: _coerce_sub(sub, value, target.label)}
        if not matched:
            if op == "replace" and sub is None:
                raise NoTarget(f"No value of '{attr.name}' matches the filter.")
            seed = seed_element(attr, expr)
            if seed is None:
                raise NoTarget(f"No value of '{attr.name}' matches the filter.")
            items.append({**seed, **element})
            matched = [len(items) - 1]
        else:
            for i in matched:
                old = items[i]
                new = element if op == "replace" and sub is None else {**old, **element}
                check_immutable_element(attr, old, new, target.label)
                items[i] = dict(new)
        container[attr.name] = enforce_primary(items, matched, target.label)

    # -- remove -------------------------------------------------------------------------

    def remove(self, target: Target, value: Any) -> None:
        attr = target.attr
        if attr is None:
            if target.urn is None:
                raise NoTarget("The resource itself cannot be removed with PATCH.")
            self.doc.pop(target.urn, None)
            return
        if target.urn is None and attr.name == "password":
            return
        container = self.container(target.urn, create=False)
        if container is None or container.get(attr.name) in _EMPTY:
            if target.urn is None and attr.required and target.sub is None:
                raise _required_removed(attr)
            return
        if target.value_filter is None and target.sub is None:
            if attr.multi_valued and value not in (None, [], {}):
                items = remove_listed(attr, container[attr.name], value, target.label)
                if attr.mutability == "immutable" and items != container[attr.name]:
                    raise Mutability(f"Attribute '{target.label}' is immutable.")
                container[attr.name] = items
                return
            if attr.multi_valued and value is not None:
                return  # An empty list of values to remove removes nothing.
            self.unassign(target, container)
            return
        if target.value_filter is None:
            self.set_sub("replace", target, container, None)
            return
        self.set_filtered("replace", target, container, None)

    def unassign(self, target: Target, container: dict[str, Any]) -> None:
        attr = target.attr
        assert attr is not None
        current = container.get(attr.name)
        if target.urn is None and attr.required:
            raise _required_removed(attr)
        if attr.mutability == "immutable" and current not in _EMPTY:
            raise Mutability(f"Attribute '{target.label}' is immutable.")
        container.pop(attr.name, None)


def _required_removed(attr: Attribute) -> ScimError:
    """RFC 7644 §3.5.2.2: a required attribute removed or left unassigned is ``mutability``."""
    return Mutability(f"Required attribute '{attr.name}' cannot be removed.")


def _coerce_sub(sub: Attribute, value: Any, label: str) -> Any:
    if isinstance(value, list) and not sub.multi_valued:
        if len(value) != 1:
            raise InvalidValue(f"Attribute '{label}' is single-valued.")
        value = value[0]
    return coerce_value(sub, value, label)
