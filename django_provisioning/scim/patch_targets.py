"""Where a PATCH operation applies: each operation checked and its path resolved to a target.

:func:`parse_operation` reads one operation object of a PatchOp (``op``, ``path``, ``value``)
and :func:`resolve_target` resolves its path against the resource's schema: an attribute, a
sub-attribute, a value filter (``emails[type eq "work"].value``), a whole extension, or
nothing to do (a ``readOnly`` attribute, ``schemas``, an extension the resource does not have).
Nothing is applied here: :mod:`.patch` applies the targets to a document, :mod:`.patch_cost`
counts their work first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..schema.definitions import Attribute, ResourceType, split_urn
from .errors import InvalidPath, InvalidSyntax, InvalidValue, NoTarget, ScimError
from .filtering.nodes import Filter, PatchPath
from .filtering.parser import parse_patch_path
from .filtering.value_filter import check_filter
from .patch_cost import member

OPS = ("add", "remove", "replace")


@dataclass(frozen=True)
class Target:
    """Where an operation applies. ``attr`` None: the whole schema ``urn`` (None = core)."""

    urn: str | None
    attr: Attribute | None
    value_filter: Filter | None = None
    sub: Attribute | None = None

    @property
    def label(self) -> str:
        name = self.attr.name if self.attr else ""
        if self.sub is not None:
            name += "." + self.sub.name
        return f"{self.urn}:{name}" if self.urn else name


@dataclass(frozen=True)
class Step:
    """One parsed operation. ``target`` None: an operation to ignore."""

    op: str
    target: Target | None
    value: Any


def parse_operation(resource: ResourceType, operation: Any) -> Step:
    """Check one operation object and resolve its path (nothing is applied)."""
    if not isinstance(operation, dict):
        raise InvalidSyntax("Each operation must be a JSON object.")
    _p, op = member(operation, "op")
    if not isinstance(op, str) or op.strip().lower() not in OPS:
        raise InvalidSyntax("'op' must be one of 'add', 'remove' or 'replace'.")
    op = op.strip().lower()
    _p, path = member(operation, "path")
    has_value, value = member(operation, "value")
    if path is not None and not isinstance(path, str):
        raise InvalidPath("'path' must be a string.")
    if path is None or not path.strip():
        if op == "remove":
            raise NoTarget("A 'remove' operation needs a 'path'.")
        if not has_value or value is None:
            raise InvalidValue(f"An '{op}' operation without a path needs a 'value'.")
        return Step(op, Target(None, None), value)
    target = resolve_target(resource, path, lenient=False)
    if target is not None and op != "remove" and not has_value:
        raise InvalidValue(f"An '{op}' operation needs a 'value'.")
    return Step(op, target, value)


def resolve_target(resource: ResourceType, text: str, *, lenient: bool) -> Target | None:
    """The target of path *text*; None when the operation is to be ignored.

    *lenient* ignores an unknown attribute (an attribute of a no-path operation's value, the
    work meter's look-ahead) instead of refusing it with ``invalidPath``.
    """
    text = text.strip()
    urn, rest = split_urn(text, resource)
    if urn is not None and urn.lower() == resource.schema.id.lower():
        urn = None
        if not rest:
            return Target(None, None)
    elif urn is not None and not rest:
        return Target(urn, None)
    elif urn is None and rest[:4].lower() == "urn:":
        return None  # An extension this resource does not have.
    parsed = _parse(rest)
    if parsed.path.urn is not None:
        raise InvalidPath(f"Invalid path '{text}'.")
    name = parsed.path.attr
    if name.lower() == "schemas":
        return None
    attr = resource.find(urn, name)
    if attr is None and urn is None:
        found = [(e.id, e.attribute(name)) for e in resource.extensions]
        found = [(u, a) for u, a in found if a is not None]
        if len(found) == 1:
            urn, attr = found[0]
        elif found and not lenient:
            raise InvalidPath(
                f"'{text}' is an attribute of several extensions "
                f"({', '.join(u for u, _a in found)}): qualify it with the schema URN."
            )
    if attr is None:
        if lenient:
            return None
        raise InvalidPath(f"Unknown attribute '{text}'.")
    sub_names = {s.lower(): s for s in (parsed.path.sub, parsed.sub) if s}
    if len(sub_names) > 1:
        raise InvalidPath(f"Invalid path '{text}'.")
    if attr.mutability == "readOnly":
        return None
    sub = None
    if sub_names:
        sub_name = next(iter(sub_names.values()))
        sub = attr.sub(sub_name) if attr.type == "complex" else None
        if sub is None:
            if lenient and attr.type == "complex":
                return None
            raise InvalidPath(f"Unknown sub-attribute in path '{text}'.")
        if sub.mutability == "readOnly":
            return None
    if parsed.value_filter is not None:
        if not attr.multi_valued:
            raise InvalidPath(f"'{attr.name}' is not multi-valued; it takes no filter.")
        check_filter(attr, parsed.value_filter)
    return Target(urn, attr, parsed.value_filter, sub)


def _parse(text: str) -> PatchPath:
    try:
        return parse_patch_path(text)
    except InvalidPath:
        raise
    except ScimError as exc:
        raise InvalidPath(exc.detail) from exc
    except Exception as exc:  # A parser failure on hostile input is still a client error.
        raise InvalidPath(f"Invalid path '{text[:200]}'.") from exc
