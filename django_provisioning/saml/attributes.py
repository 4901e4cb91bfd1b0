"""Turn a validated assertion's NameID and attributes into the SCIM-shaped document JIT applies.

Both doors speak SCIM to the provisioning core, so an assertion becomes a SCIM User document
(``userName``, ``emails``, ``name``, ``displayName``) validated by
:func:`~django_provisioning.schema.document.canonicalize`, and the adapter maps it onto the user
model exactly as it maps a SCIM POST.

:data:`DEFAULT_ATTRIBUTE_NAMES` lists, for each SCIM path, the SAML attribute names identity
providers send out of the box: Okta, Microsoft Entra ID (``http://schemas.xmlsoap.org/...``
claim URIs), Google Workspace, OneLogin, JumpCloud, Keycloak and the ``urn:oid:`` names of
eduPerson / inetOrgPerson. ``Connection.attribute_mapping`` replaces the list of any path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import InvalidPath, SchemaError
from ..models import NameIdFormat
from ..schema.definitions import USER_RESOURCE
from ..schema.document import canonicalize
from ..schema.paths import parse_mapped_path, set_path
from .errors import SamlError

if TYPE_CHECKING:
    from ..models import Connection

_MS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"

DEFAULT_ATTRIBUTE_NAMES: dict[str, list[str]] = {
    "userName": [
        "userName",
        "username",
        f"{_MS}name",  # Entra: the user principal name
        "urn:oid:1.3.6.1.4.1.5923.1.1.1.6",  # eduPersonPrincipalName
        "eduPersonPrincipalName",
    ],
    "emails": [
        "email",  # Okta, Google, JumpCloud, Keycloak
        "mail",
        "emailAddress",
        "User.email",  # OneLogin
        f"{_MS}emailaddress",  # Entra
        "urn:oid:0.9.2342.19200300.100.1.3",  # mail
        "urn:oid:1.2.840.113549.1.9.1",  # PKCS #9 emailAddress (Keycloak X.500 mapper)
    ],
    "name.givenName": [
        "firstName",  # Okta, Google
        "firstname",  # JumpCloud
        "givenName",
        "given_name",
        "User.FirstName",  # OneLogin
        f"{_MS}givenname",  # Entra
        "urn:oid:2.5.4.42",  # givenName
    ],
    "name.familyName": [
        "lastName",
        "lastname",
        "surname",
        "sn",
        "familyName",
        "family_name",
        "User.LastName",
        f"{_MS}surname",
        "urn:oid:2.5.4.4",  # sn
    ],
    "displayName": [
        "displayName",
        "displayname",
        "http://schemas.microsoft.com/identity/claims/displayname",  # Entra
        "urn:oid:2.16.840.1.113730.3.1.241",  # displayName
        "cn",
        "urn:oid:2.5.4.3",  # cn
    ],
    "groups": [
        "groups",  # Okta, Google, Keycloak (group mapper)
        "memberOf",  # OneLogin, JumpCloud
        "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",  # Entra
        "http://schemas.xmlsoap.org/claims/Group",  # AD FS
        "urn:oid:1.3.6.1.4.1.5923.1.5.1.1",  # isMemberOf
        "isMemberOf",
    ],
}

# NameID formats whose value may be a person's user name when it looks like one.
_NAME_FORMATS = {NameIdFormat.EMAIL, NameIdFormat.PERSISTENT, NameIdFormat.UNSPECIFIED}


def attribute_names(connection: Connection, path: str) -> list[str]:
    """SAML attribute names for SCIM *path*: the connection's override, else the defaults."""
    mapping = connection.attribute_mapping or {}
    override = mapping.get(path)
    if override is None:  # SCIM names are case-insensitive (RFC 7643 §2.1)
        override = next((v for k, v in mapping.items() if k.casefold() == path.casefold()), None)
    if isinstance(override, str):
        return [override]
    if isinstance(override, list):
        return [str(name) for name in override]
    return list(DEFAULT_ATTRIBUTE_NAMES.get(path, []))


def _values(attributes: dict[str, list[str]], names: list[str]) -> list[str]:
    """The values of the first of *names* present (exact name first, then case-insensitive)."""
    folded = {key.casefold(): key for key in attributes}
    for name in names:
        key = name if name in attributes else folded.get(name.casefold())
        if key is not None:
            values = [v.strip() for v in attributes[key] if isinstance(v, str) and v.strip()]
            if values:
                return values
    return []


def _first(attributes: dict[str, list[str]], connection: Connection, path: str) -> str | None:
    values = _values(attributes, attribute_names(connection, path))
    return values[0] if values else None


def user_name_for(
    connection: Connection, name_id: str, name_id_format: str, attributes: dict[str, list[str]]
) -> str | None:
    """The userName: an e-mail-like NameID, else the mapped attribute, else the e-mail.

    A transient NameID changes at every sign-in and is never used. A persistent or unspecified
    NameID that is not e-mail-like (an opaque id) is the last resort.
    """
    usable_format = name_id_format in _NAME_FORMATS
    if usable_format and name_id_format == NameIdFormat.EMAIL and name_id:
        return name_id
    if usable_format and "@" in name_id:
        return name_id
    for path in ("userName", "emails"):
        value = _first(attributes, connection, path)
        if value:
            return value
    return name_id if usable_format and name_id else None


def build_document(
    connection: Connection, name_id: str, name_id_format: str, attributes: dict[str, list[str]]
) -> dict[str, Any]:
    """The SCIM User document (not yet canonical) an assertion describes."""
    document: dict[str, Any] = {"schemas": [USER_RESOURCE.schema.id]}
    user_name = user_name_for(connection, name_id, name_id_format, attributes)
    if user_name:
        document["userName"] = user_name
    email = _first(attributes, connection, "emails")
    if email is None and user_name and "@" in user_name:
        email = user_name
    if email:
        document["emails"] = [{"value": email, "type": "work", "primary": True}]
    name = {
        key: value
        for key, value in (
            ("givenName", _first(attributes, connection, "name.givenName")),
            ("familyName", _first(attributes, connection, "name.familyName")),
        )
        if value
    }
    if name:
        document["name"] = name
    display = _first(attributes, connection, "displayName")
    if display:
        document["displayName"] = display
    _add_mapped_paths(document, connection, attributes)
    return document


def _default_path(key: str) -> bool:
    """Whether *key* is one of the paths :func:`build_document` builds itself, however spelled
    (``Emails``, ``emails.value``, the core schema URN + ``userName``)."""
    try:
        path = parse_mapped_path(key)
    except InvalidPath:
        return False
    dotted = ".".join(p for p in (path.attr, path.sub) if p)
    if path.urn is None and path.attr == "emails" and path.sub in (None, "value"):
        return not path.has_selector
    return path.urn is None and not path.has_selector and dotted in DEFAULT_ATTRIBUTE_NAMES


def _add_mapped_paths(
    document: dict[str, Any], connection: Connection, attributes: dict[str, list[str]]
) -> None:
    """The other paths of ``attribute_mapping`` (any SCIM path, extensions included).

    A multi-valued attribute named whole (``roles``, ``entitlements``) takes every value of
    the SAML attribute; any other path (``title``, ``phoneNumbers[type eq "work"].value``,
    ``urn:...:enterprise:2.0:User:department``) takes the first. Keys are validated when the
    connection is saved (``validate_saml_attribute_mapping``).
    """
    for key in connection.attribute_mapping or {}:
        if _default_path(key):
            continue
        values = _values(attributes, attribute_names(connection, key))
        if not values:
            continue
        path = parse_mapped_path(key)
        attr = USER_RESOURCE.find(path.urn, path.attr)
        if attr is not None and attr.multi_valued and not path.has_selector and not path.sub:
            target = document.setdefault(path.urn, {}) if path.urn else document
            target[attr.name] = [{"value": value} for value in values]
        else:
            set_path(document, path, values[0])


def canonical_document(document: dict[str, Any]) -> dict[str, Any]:
    """Validate *document* as a User; a value the schema refuses becomes a readable SamlError."""
    try:
        canonical, _password = canonicalize(document, USER_RESOURCE)
    except SchemaError as exc:
        raise SamlError("invalid_attributes", f"schema validation: {exc}") from exc
    return canonical


def group_names_for(connection: Connection, attributes: dict[str, list[str]]) -> list[str] | None:
    """The IdP groups of the assertion that the connection syncs: the values of the groups
    attribute that are keys of ``group_mapping`` (as the IdP sends them: Entra, the groups'
    object ids; most others, their names).

    None (leave memberships alone) when the connection maps no groups. When it does, an absent
    groups attribute means "in none of the mapped groups" (identity providers omit empty
    attributes). IdP groups without a mapping are ignored. The core matches each value to the
    connection's :class:`~django_provisioning.models.ExternalGroup` (by id, then name) and
    the adapter decides its local group (see ``group_mapping`` in docs/settings.rst).
    """
    mapping = connection.group_mapping or {}
    if not mapping:
        return None
    return [g for g in group_values(connection, attributes) if g in mapping]


def group_values(connection: Connection, attributes: dict[str, list[str]]) -> list[str]:
    """Every value of the assertion's groups attribute (``groups_attribute``, else the
    built-in names), synced or not, each once."""
    names = (
        [connection.groups_attribute]
        if connection.groups_attribute
        else attribute_names(connection, "groups")
    )
    return list(dict.fromkeys(_values(attributes, names)))
