"""Custom User schema extensions, from their JSON spelling (RFC 7643 §3.3, §7).

The product declares them in ``DJANGO_PROVISIONING["USER_SCHEMA_EXTENSIONS"]``:
``{urn: {"name": ..., "description": ..., "attributes": [attribute, ...]}}``, each attribute
in the spelling of RFC 7643 §7 (``multiValued``, ``caseExact``, ``subAttributes``...), so a
definition can be pasted from an identity provider's documentation. Missing characteristics
take the defaults of RFC 7643 §2.2 and §7: ``type`` string, single-valued, not required, not
case-exact, ``readWrite``, returned by ``default``, ``uniqueness`` none.

:func:`extension_problems` says what is wrong with a setting (the system checks report it,
:mod:`django_provisioning.checks`); :func:`build_extensions` builds the
:class:`~.attributes.Schema` objects, leaving out an extension that has a problem, so a bad
setting is reported at start-up and never turns a request into a server error.

Out of scope: more than one level of sub-attributes (RFC 7643 §2.3.8 forbids it), and
extensions of resource types other than User.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .attributes import Attribute, Schema
from .definitions import ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, USER_SCHEMA

#: RFC 7643 §2.1 ``ATTRNAME``: a letter, then letters, digits, ``-`` and ``_``.
ATTRIBUTE_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
#: RFC 8141 ``urn:<NID>:<NSS>``, with the NSS limited to what SCIM filters and PATCH paths
#: can carry (letters, digits and ``. _ + - :``), not ending in ``:``.
URN_RE = re.compile(r"^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[A-Za-z0-9._+:-]*[A-Za-z0-9._+-]$", re.I)
RESERVED_URNS = (USER_SCHEMA, GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA)

TYPES = ("string", "boolean", "decimal", "integer", "dateTime", "reference", "binary", "complex")
CHARACTERISTICS: dict[str, tuple[str, ...]] = {
    "mutability": ("readOnly", "readWrite", "immutable", "writeOnly"),
    "returned": ("always", "never", "default", "request"),
    "uniqueness": ("none", "server", "global"),
}
FLAGS = {"multiValued": "multi_valued", "required": "required", "caseExact": "case_exact"}
LISTS = {"canonicalValues": "canonical_values", "referenceTypes": "reference_types"}
ATTRIBUTE_KEYS = frozenset(
    {"name", "type", "description", "subAttributes", *CHARACTERISTICS, *FLAGS, *LISTS}
)
EXTENSION_KEYS = frozenset({"name", "description", "attributes"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the setting.

    *kind* says which check finds it: ``setting`` (the shape of the setting or of one
    extension), ``urn``, ``attribute`` (name and keys), ``type``, ``characteristic``
    (mutability, returned, uniqueness) and ``sub_attributes``.
    """

    kind: str
    message: str
    hint: str
    urn: str | None = None


def extension_problems(setting: Any) -> list[Problem]:
    """Everything wrong with a ``USER_SCHEMA_EXTENSIONS`` value, in the setting's order."""
    if not isinstance(setting, Mapping):
        return [
            Problem(
                "setting",
                f"must be a dict of schema URN -> extension, not {type(setting).__name__}.",
                'For example {"urn:ietf:params:scim:schemas:extension:acme:2.0:User": '
                '{"name": "AcmeUser", "attributes": [{"name": "costCenter"}]}}.',
            )
        ]
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for urn, definition in setting.items():
        problems += _urn_problems(urn, seen)
        if isinstance(urn, str):
            seen.setdefault(urn.lower(), urn)
        problems += _definition_problems(urn, definition)
    return problems


def _urn_problems(urn: Any, seen: dict[str, str]) -> list[Problem]:
    def problem(message: str, hint: str) -> list[Problem]:
        return [Problem("urn", message, hint, urn=str(urn))]

    if not isinstance(urn, str) or not URN_RE.match(urn):
        return problem(
            f"{urn!r} is not a schema URN.",
            'Name the extension by a URN such as "urn:ietf:params:scim:schemas:extension:'
            'acme:2.0:User" (letters, digits and . _ + - : only).',
        )
    lowered = urn.lower()
    for taken in (*RESERVED_URNS, *seen.values()):
        if lowered == taken.lower():
            what = "a built-in schema" if taken in RESERVED_URNS else "another extension"
            return problem(
                f"{urn!r} is already the URN of {what} (URNs are case-insensitive).",
                "Give each extension its own URN; the Enterprise User extension is built in.",
            )
        if lowered.startswith(taken.lower() + ":") or taken.lower().startswith(lowered + ":"):
            return problem(
                f"{urn!r} and {taken!r} are ambiguous: one is the other followed by ':', so a "
                "path such as '<urn>:attribute' could name either.",
                "Choose URNs where neither begins with the other and a ':'.",
            )
    return []


def _definition_problems(urn: Any, definition: Any) -> list[Problem]:
    where = f"Extension {urn!r}"

    def problem(message: str, hint: str, kind: str = "setting") -> Problem:
        return Problem(kind, f"{where}: {message}", hint, urn=str(urn))

    if not isinstance(definition, Mapping):
        return [
            problem(
                "must be a dict with 'name' and 'attributes'.",
                'For example {"name": "AcmeUser", "attributes": [{"name": "costCenter"}]}.',
            )
        ]
    problems: list[Problem] = []
    unknown = sorted(str(k) for k in set(definition) - EXTENSION_KEYS)
    if unknown:
        problems.append(
            problem(
                f"unknown keys {', '.join(unknown)}.",
                "An extension has 'name', 'description' (optional) and 'attributes'.",
            )
        )
    name = definition.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(
            problem("has no 'name'.", 'Give the schema a name, e.g. "AcmeUser" (RFC 7643 §7).')
        )
    if not isinstance(definition.get("description", ""), str):
        problems.append(problem("'description' must be a string.", "Give a text, or leave it out."))
    attributes = definition.get("attributes")
    if not isinstance(attributes, list) or not attributes:
        problems.append(
            problem(
                "'attributes' must be a non-empty list of attribute definitions.",
                'For example [{"name": "costCenter", "type": "string"}].',
            )
        )
        return problems
    problems += _attributes_problems(str(urn), attributes, parent=None)
    return problems


def _attributes_problems(urn: str, attributes: list[Any], parent: str | None) -> list[Problem]:
    problems: list[Problem] = []
    names: set[str] = set()
    for index, spec in enumerate(attributes):
        label = spec.get("name") if isinstance(spec, Mapping) else None
        shown = label if isinstance(label, str) else f"#{index + 1}"
        where = f"Extension {urn!r}, attribute {f'{parent}.' if parent else ''}{shown}"

        def problem(kind: str, message: str, hint: str) -> None:
            problems.append(Problem(kind, f"{where}: {message}", hint, urn=urn))  # noqa: B023

        if not isinstance(spec, Mapping):
            problem("attribute", "must be a dict.", 'For example {"name": "costCenter"}.')
            continue
        if not isinstance(label, str) or not (
            ATTRIBUTE_NAME_RE.match(label) or (parent is not None and label == "$ref")
        ):
            problem(
                "attribute",
                f"{label!r} is not a valid attribute name.",
                "Start with a letter; then letters, digits, '-' or '_' (RFC 7643 §2.1; a "
                "sub-attribute may also be '$ref').",
            )
        elif label.lower() in names:
            problem("attribute", "is defined twice.", "Names are case-insensitive: keep one.")
        else:
            names.add(label.lower())
        unknown = sorted(str(k) for k in set(spec) - ATTRIBUTE_KEYS)
        if unknown:
            problem(
                "attribute",
                f"unknown keys {', '.join(unknown)}.",
                "Use the RFC 7643 §7 keys: " + ", ".join(sorted(ATTRIBUTE_KEYS)) + ".",
            )
        for key in FLAGS:
            if key in spec and not isinstance(spec[key], bool):
                problem("attribute", f"'{key}' must be true or false.", "Give a boolean.")
        if not isinstance(spec.get("description", ""), str):
            problem("attribute", "'description' must be a string.", "Give a text.")
        for key in LISTS:
            values = spec.get(key, [])
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                problem("attribute", f"'{key}' must be a list of strings.", "Give a list.")
        kind = spec.get("type", "string")
        if kind not in TYPES:
            problem("type", f"unknown type {kind!r}.", "Choose one of: " + ", ".join(TYPES) + ".")
        for key, allowed in CHARACTERISTICS.items():
            if key in spec and spec[key] not in allowed:
                problem(
                    "characteristic",
                    f"unknown {key} {spec[key]!r}.",
                    "Choose one of: " + ", ".join(allowed) + ".",
                )
        subs = spec.get("subAttributes")
        if kind == "complex" and parent is not None:
            problem(
                "sub_attributes",
                "is complex inside a complex attribute.",
                "Sub-attributes cannot be complex (RFC 7643 §2.3.8): flatten them.",
            )
        elif kind == "complex":
            if not isinstance(subs, list) or not subs:
                problem(
                    "sub_attributes",
                    "is complex but has no 'subAttributes'.",
                    "List its sub-attributes, or give it a simple type.",
                )
            else:
                problems += _attributes_problems(urn, subs, parent=shown)
        elif subs is not None:
            problem(
                "sub_attributes",
                f"has 'subAttributes' but is of type {kind!r}.",
                'Only complex attributes have sub-attributes: set "type": "complex", or '
                "remove 'subAttributes'.",
            )
    return problems


def build_extensions(setting: Any) -> tuple[Schema, ...]:
    """The :class:`Schema` of each well-formed extension of the setting, in its order."""
    problems = extension_problems(setting)
    if not isinstance(setting, Mapping) or any(p.urn is None for p in problems):
        return ()
    broken = {p.urn for p in problems}
    return tuple(
        Schema(
            id=urn,
            name=definition["name"],
            description=definition.get("description", ""),
            attributes=tuple(_attribute(spec) for spec in definition["attributes"]),
        )
        for urn, definition in setting.items()
        if str(urn) not in broken
    )


def _attribute(spec: Mapping[str, Any]) -> Attribute:
    kwargs: dict[str, Any] = {
        "name": spec["name"],
        "type": spec.get("type", "string"),
        "description": spec.get("description", ""),
    }
    kwargs.update({field: spec[key] for key, field in FLAGS.items() if key in spec})
    kwargs.update({key: spec[key] for key in CHARACTERISTICS if key in spec})
    kwargs.update({field: tuple(spec[key]) for key, field in LISTS.items() if key in spec})
    if spec.get("subAttributes"):
        kwargs["sub_attributes"] = tuple(_attribute(sub) for sub in spec["subAttributes"])
    return Attribute(**kwargs)
