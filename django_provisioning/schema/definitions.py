"""The resource schemas as data (RFC 7643 §4, §7): they drive validation, filtering and discovery.

The same :class:`Attribute` objects generate ``/Schemas`` and are consulted for case rules
(``caseExact``), ``mutability`` and ``returned``, so what discovery advertises is what the
server does. The User resource type has the Enterprise User extension, and the extensions the
product configures in ``USER_SCHEMA_EXTENSIONS`` (:mod:`.registry`, :mod:`.extensions`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .attributes import SCHEMA_SCHEMA, Attribute, Schema
from .registry import user_extensions

__all__ = [
    "COMMON_ATTRIBUTES",
    "ENTERPRISE_USER",
    "ENTERPRISE_USER_SCHEMA",
    "GROUP",
    "GROUP_RESOURCE",
    "GROUP_SCHEMA",
    "RESOURCE_TYPES",
    "RESOURCE_TYPE_SCHEMA",
    "SCHEMAS",
    "SCHEMA_SCHEMA",
    "USER",
    "USER_RESOURCE",
    "USER_SCHEMA",
    "Attribute",
    "ResourceType",
    "Schema",
    "iter_schemas",
    "split_urn",
]

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"


def _s(name: str, **kw: Any) -> Attribute:
    return Attribute(name=name, **kw)


def _multi(
    name: str, description: str, types: tuple[str, ...] = ("work", "home", "other"), **kw: Any
) -> Attribute:
    value_type = kw.pop("value_type", "string")
    return Attribute(
        name=name,
        type="complex",
        multi_valued=True,
        description=description,
        sub_attributes=(
            _s("value", type=value_type, description=f"The {name} value."),
            _s("display", description="A human-readable name, for display only."),
            _s("type", description="A label for the value's function.", canonical_values=types),
            _s("primary", type="boolean", description="The preferred value."),
        ),
        **kw,
    )


ID = _s(
    "id",
    description="Unique identifier of the resource, assigned by the service provider.",
    case_exact=True,
    mutability="readOnly",
    returned="always",
    uniqueness="server",
)
EXTERNAL_ID = _s(
    "externalId",
    description="Identifier of the resource as defined by the provisioning client.",
    case_exact=True,
)
META = _s(
    "meta",
    type="complex",
    mutability="readOnly",
    description="Resource metadata.",
    sub_attributes=(
        _s("resourceType", mutability="readOnly", case_exact=True),
        _s("created", type="dateTime", mutability="readOnly"),
        _s("lastModified", type="dateTime", mutability="readOnly"),
        _s(
            "location",
            type="reference",
            mutability="readOnly",
            case_exact=True,
            reference_types=("uri",),
        ),
        _s("version", mutability="readOnly", case_exact=True),
    ),
)
COMMON_ATTRIBUTES = (ID, EXTERNAL_ID, META)

USER = Schema(
    id=USER_SCHEMA,
    name="User",
    description="User Account",
    attributes=(
        _s(
            "userName",
            required=True,
            uniqueness="server",
            description="Unique identifier for the User, used to sign in. Case-insensitive.",
        ),
        _s(
            "name",
            type="complex",
            description="The components of the user's name.",
            sub_attributes=(
                _s("formatted"),
                _s("familyName"),
                _s("givenName"),
                _s("middleName"),
                _s("honorificPrefix"),
                _s("honorificSuffix"),
            ),
        ),
        _s("displayName", description="The name of the User, suitable for display."),
        _s("nickName", description="The casual way to address the user."),
        _s(
            "profileUrl",
            type="reference",
            reference_types=("external",),
            description="A URI to the user's online profile.",
        ),
        _s("title", description="The user's title, such as 'Vice President'."),
        _s("userType", description="The relationship between the organization and the user."),
        _s("preferredLanguage", description="Preferred written or spoken language."),
        _s("locale", description="Default location for localisation."),
        _s("timezone", description="The user's time zone, in IANA format."),
        _s("active", type="boolean", description="The user's administrative status."),
        _s(
            "password",
            mutability="writeOnly",
            returned="never",
            description="The user's cleartext password, write-only.",
        ),
        _multi("emails", "Email addresses for the user."),
        _multi(
            "phoneNumbers",
            "Phone numbers for the user.",
            types=("work", "home", "mobile", "fax", "pager", "other"),
        ),
        _multi(
            "ims",
            "Instant messaging addresses for the user.",
            types=("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"),
        ),
        _multi(
            "photos",
            "URLs of photos of the user.",
            types=("photo", "thumbnail"),
            value_type="reference",
        ),
        Attribute(
            name="addresses",
            type="complex",
            multi_valued=True,
            description="A physical mailing address for this user.",
            sub_attributes=(
                _s("formatted"),
                _s("streetAddress"),
                _s("locality"),
                _s("region"),
                _s("postalCode"),
                _s("country"),
                _s("type", canonical_values=("work", "home", "other")),
                _s("primary", type="boolean"),
            ),
        ),
        Attribute(
            name="groups",
            type="complex",
            multi_valued=True,
            mutability="readOnly",
            description="Groups the user belongs to, managed through the Group resource.",
            sub_attributes=(
                _s("value", mutability="readOnly"),
                _s(
                    "$ref",
                    type="reference",
                    mutability="readOnly",
                    reference_types=("User", "Group"),
                ),
                _s("display", mutability="readOnly"),
                _s("type", mutability="readOnly", canonical_values=("direct", "indirect")),
            ),
        ),
        _multi("entitlements", "A list of entitlements for the user.", types=()),
        _multi("roles", "A list of roles for the user.", types=()),
        _multi(
            "x509Certificates",
            "A list of certificates issued to the user.",
            types=(),
            value_type="binary",
        ),
    ),
)

ENTERPRISE_USER = Schema(
    id=ENTERPRISE_USER_SCHEMA,
    name="EnterpriseUser",
    description="Enterprise User",
    attributes=(
        _s("employeeNumber", description="Identifier assigned by the organization."),
        _s("costCenter", description="Name of a cost center."),
        _s("organization", description="Name of an organization."),
        _s("division", description="Name of a division."),
        _s("department", description="Name of a department."),
        _s(
            "manager",
            type="complex",
            description="The user's manager.",
            sub_attributes=(
                _s("value", description="The id of the manager's User resource."),
                _s("$ref", type="reference", reference_types=("User",)),
                _s("displayName", mutability="readOnly"),
            ),
        ),
    ),
)

GROUP = Schema(
    id=GROUP_SCHEMA,
    name="Group",
    description="Group",
    attributes=(
        _s(
            "displayName",
            required=True,
            uniqueness="server",
            description="A human-readable name for the Group (unique within a connection).",
        ),
        Attribute(
            name="members",
            type="complex",
            multi_valued=True,
            description="A list of members of the Group.",
            sub_attributes=(
                _s("value", mutability="immutable"),
                _s(
                    "$ref",
                    type="reference",
                    mutability="immutable",
                    reference_types=("User", "Group"),
                ),
                _s("display", mutability="readOnly", returned="request"),
                _s("type", mutability="immutable", canonical_values=("User", "Group")),
            ),
        ),
    ),
)

SCHEMAS: dict[str, Schema] = {s.id: s for s in (USER, ENTERPRISE_USER, GROUP)}


class ResourceType:
    """A SCIM resource type (RFC 7643 §6): its core schema and extensions.

    *extensions* are fixed; *configured*, when given, returns more at run time (the User's
    from the settings, see :mod:`.registry`), so :attr:`extensions` is read, not stored.
    Compared and hashed by identity: a resource type is a singleton, and hashing the whole
    schema tree for every cache look-up would cost more than the look-up.
    """

    __slots__ = ("_configured", "_fixed", "description", "endpoint", "name", "schema")

    def __init__(
        self,
        name: str,
        endpoint: str,
        schema: Schema,
        extensions: tuple[Schema, ...] = (),
        description: str = "",
        configured: Callable[[], tuple[Schema, ...]] | None = None,
    ) -> None:
        self.name = name
        self.endpoint = endpoint
        self.schema = schema
        self.description = description
        self._fixed = tuple(extensions)
        self._configured = configured

    def __repr__(self) -> str:
        return f"ResourceType({self.name!r}, schema={self.schema.id!r})"

    @property
    def extensions(self) -> tuple[Schema, ...]:
        """The fixed extensions, then the configured ones."""
        if self._configured is None:
            return self._fixed
        configured = self._configured()
        return self._fixed + configured if configured else self._fixed

    @property
    def schema_ids(self) -> tuple[str, ...]:
        return (self.schema.id, *(e.id for e in self.extensions))

    def extension(self, urn: str) -> Schema | None:
        for ext in self.extensions:
            if ext.id.lower() == urn.lower():
                return ext
        return None

    def find(self, urn: str | None, name: str) -> Attribute | None:
        """The top-level attribute *name* of schema *urn* (core schema when None)."""
        if urn is None or urn.lower() == self.schema.id.lower():
            for attr in COMMON_ATTRIBUTES:
                if attr.name.lower() == name.lower():
                    return attr
            return self.schema.attribute(name)
        ext = self.extension(urn)
        return ext.attribute(name) if ext else None

    def as_dict(self, location: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": self.description,
            "schema": self.schema.id,
            "schemaExtensions": [{"schema": e.id, "required": False} for e in self.extensions],
            "meta": {"resourceType": "ResourceType"},
        }
        if location:
            out["meta"]["location"] = location
        return out


USER_RESOURCE = ResourceType(
    name="User",
    endpoint="/Users",
    schema=USER,
    extensions=(ENTERPRISE_USER,),
    description="User accounts of the service provider.",
    configured=user_extensions.extensions,
)

GROUP_RESOURCE = ResourceType(
    name="Group",
    endpoint="/Groups",
    schema=GROUP,
    description="Groups of a connection's users, linked to the service provider's groups.",
)

RESOURCE_TYPES: dict[str, ResourceType] = {
    USER_RESOURCE.name: USER_RESOURCE,
    GROUP_RESOURCE.name: GROUP_RESOURCE,
}


def split_urn(path: str, resource: ResourceType) -> tuple[str | None, str]:
    """Split ``urn:...:User:name.givenName`` into (schema urn, rest); (None, path) otherwise.

    Matching is case-insensitive, as RFC 7643 §2.1 makes attribute names and URNs.
    """
    lowered = path.lower()
    for urn in sorted(resource.schema_ids, key=len, reverse=True):
        prefix = urn.lower()
        if lowered == prefix:
            return urn, ""
        if lowered.startswith(prefix + ":"):
            return urn, path[len(urn) + 1 :]
    return None, path


def iter_schemas(resources: Iterable[ResourceType]) -> list[Schema]:
    seen: dict[str, Schema] = {}
    for resource in resources:
        for schema in (resource.schema, *resource.extensions):
            seen.setdefault(schema.id, schema)
    return list(seen.values())
