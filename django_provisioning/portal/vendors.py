"""Each identity provider's names for the SAML and SCIM settings, and its setup steps.

Pure data, no Django import: the setup portal's templates and the Sphinx directive
``.. idp-saml-steps:: okta`` (``docs/_ext/idp_steps.py``) both render from it, so the portal
and ``docs/idp/<vendor>.rst`` say the same thing. Steps may name the values with
``{acs}``, ``{entity_id}``, ``{slo}``, ``{metadata}`` and ``{scim_base}``: the portal puts the
connection's values there, the docs an example.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Vendor:
    key: str
    name: str
    #: The IdP's label for the SP's ACS URL, entity id, SLO URL and NameID format.
    acs_label: str
    entity_id_label: str
    slo_label: str
    name_id_label: str
    #: The IdP's names of the attributes to send: our field -> (their label, attribute name).
    attributes: dict[str, tuple[str, str]]
    saml_steps: tuple[str, ...]
    #: Where the IdP publishes its metadata (what to paste or upload in the portal).
    metadata_hint: str
    scim_steps: tuple[str, ...] = ()
    scim_base_label: str = "SCIM base URL"
    scim_token_label: str = "Bearer token"
    #: False when the IdP cannot push users over SCIM to a custom app.
    scim_supported: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)


_EMAIL, _FIRST, _LAST, _GROUPS = "email", "first_name", "last_name", "groups"

VENDORS: dict[str, Vendor] = {
    "okta": Vendor(
        key="okta",
        name="Okta",
        acs_label="Single sign-on URL",
        entity_id_label="Audience URI (SP Entity ID)",
        slo_label="Single Logout URL",
        name_id_label="Name ID format",
        attributes={
            _EMAIL: ("Attribute Statements: Name", "email"),
            _FIRST: ("Attribute Statements: Name", "firstName"),
            _LAST: ("Attribute Statements: Name", "lastName"),
            _GROUPS: ("Group Attribute Statements: Name", "groups"),
        },
        saml_steps=(
            "In the Okta Admin Console, open Applications > Applications and choose "
            "Create App Integration, then SAML 2.0.",
            "Name the app and go on to Configure SAML.",
            "Set Single sign-on URL to {acs} and leave "
            "'Use this for Recipient URL and Destination URL' ticked.",
            "Set Audience URI (SP Entity ID) to {entity_id}.",
            "Set Name ID format to EmailAddress and Application username to Email.",
            "Under Attribute Statements add email, firstName and lastName (user.email, "
            "user.firstName, user.lastName); under Group Attribute Statements add groups "
            "with the filter of the groups to send.",
            "Finish, assign the app to people or groups, then copy the Metadata URL from the "
            "Sign On tab.",
        ),
        metadata_hint="Sign On tab > Metadata URL",
        scim_base_label="SCIM connector base URL",
        scim_token_label="Bearer token (Authentication Mode: HTTP Header)",
        scim_steps=(
            "On the app's General tab, choose Edit under App Settings and tick "
            "'Enable SCIM provisioning'; save.",
            "On the Provisioning tab, Integration: set SCIM connector base URL to {scim_base} "
            "and Unique identifier field for users to userName.",
            "Tick Push New Users, Push Profile Updates and Push Groups.",
            "Authentication Mode: HTTP Header; paste the token as the Bearer token.",
            "Choose Test Connector Configuration (it appears in the status below), then Save.",
            "Provisioning > To App: enable Create Users, Update User Attributes and "
            "Deactivate Users.",
        ),
    ),
    "entra": Vendor(
        key="entra",
        name="Microsoft Entra ID",
        acs_label="Reply URL (Assertion Consumer Service URL)",
        entity_id_label="Identifier (Entity ID)",
        slo_label="Logout Url",
        name_id_label="Unique User Identifier (Name ID)",
        attributes={
            _EMAIL: (
                "Claim name",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
            ),
            _FIRST: (
                "Claim name",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
            ),
            _LAST: ("Claim name", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"),
            _GROUPS: (
                "Group claim",
                "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups",
            ),
        },
        saml_steps=(
            "In the Microsoft Entra admin center, open Enterprise applications > "
            "New application > Create your own application (non-gallery).",
            "Open Single sign-on and choose SAML.",
            "Under Basic SAML Configuration, set Identifier (Entity ID) to {entity_id} and "
            "Reply URL (Assertion Consumer Service URL) to {acs}; set Logout Url to {slo}.",
            "Under Attributes & Claims, set Unique User Identifier (Name ID) to user.mail "
            "(format: Email address) and keep the givenname, surname and emailaddress claims.",
            "Add a group claim (Groups assigned to the application) if groups should follow.",
            "Under SAML Certificates, copy the App Federation Metadata Url.",
            "Assign users and groups to the application.",
        ),
        metadata_hint="SAML Certificates > App Federation Metadata Url",
        scim_base_label="Tenant URL",
        scim_token_label="Secret Token",
        scim_steps=(
            "In the same enterprise application, open Provisioning and set Provisioning Mode "
            "to Automatic.",
            "Under Admin Credentials, set Tenant URL to {scim_base} and paste the token as the "
            "Secret Token.",
            "Choose Test Connection (it appears in the status below), then Save.",
            "Under Mappings, keep userName mapped from userPrincipalName (or mail).",
            "Set Provisioning Status to On.",
        ),
    ),
    "google": Vendor(
        key="google",
        name="Google Workspace",
        acs_label="ACS URL",
        entity_id_label="Entity ID",
        slo_label="(not supported by Google)",
        name_id_label="Name ID format",
        attributes={
            _EMAIL: ("App attributes", "email"),
            _FIRST: ("App attributes", "firstName"),
            _LAST: ("App attributes", "lastName"),
            _GROUPS: ("Group membership: App attribute", "groups"),
        },
        saml_steps=(
            "In the Google Admin console, open Apps > Web and mobile apps > Add app > "
            "Add custom SAML app.",
            "Name the app; on Google Identity Provider details, choose Download Metadata "
            "(you upload that file here).",
            "On Service provider details, set ACS URL to {acs} and Entity ID to {entity_id}; "
            "leave Signed response unticked.",
            "Set Name ID format to EMAIL and Name ID to Basic Information > Primary email.",
            "On Attribute mapping, map First name to firstName, Last name to lastName and "
            "Primary email to email; add the groups to send under Group membership as groups.",
            "Finish, then turn the app ON for everyone (or for the organizational units that "
            "should use it).",
        ),
        metadata_hint="Google Identity Provider details > Download Metadata (upload the file)",
        scim_supported=False,
        scim_steps=(
            "Google Workspace provisions over SCIM only to the apps in its own catalog, not to "
            "a custom SAML app: people are created at their first sign-in instead, and "
            "removed here by an administrator of the product.",
        ),
    ),
    "onelogin": Vendor(
        key="onelogin",
        name="OneLogin",
        acs_label="ACS (Consumer) URL",
        entity_id_label="Audience (EntityID)",
        slo_label="Single Logout URL",
        name_id_label="SAML nameID format",
        attributes={
            _EMAIL: ("Parameters: Field name", "User.email"),
            _FIRST: ("Parameters: Field name", "User.FirstName"),
            _LAST: ("Parameters: Field name", "User.LastName"),
            _GROUPS: ("Parameters: Field name", "groups"),
        },
        saml_steps=(
            "In OneLogin Administration, open Applications > Add App and choose "
            "'SCIM Provisioner with SAML (SCIM v2 Enterprise)' (or 'SAML Custom Connector "
            "(Advanced)' without provisioning).",
            "On the Configuration tab, set Audience (EntityID) to {entity_id}, Recipient and "
            "ACS (Consumer) URL to {acs}, ACS (Consumer) URL Validator to the same URL "
            "(a regular expression: escape its dots), and Single Logout URL to {slo}.",
            "Set SAML nameID format to Email.",
            "On the Parameters tab, send User.email, User.FirstName and User.LastName "
            "(Include in SAML assertion) and a groups parameter if groups should follow.",
            "On the SSO tab, copy the Issuer URL (the metadata URL).",
        ),
        metadata_hint="SSO tab > Issuer URL",
        scim_base_label="SCIM Base URL",
        scim_token_label="SCIM Bearer Token",
        scim_steps=(
            "On the Configuration tab, set SCIM Base URL to {scim_base} and paste the token as "
            "SCIM Bearer Token; set SCIM JSON Template's userName to the email.",
            "Under API Connection, choose Enable (it appears in the status below).",
            "On the Provisioning tab, tick Enable provisioning and choose what a deleted user "
            "becomes (Suspend).",
        ),
    ),
    "jumpcloud": Vendor(
        key="jumpcloud",
        name="JumpCloud",
        acs_label="ACS URLs",
        entity_id_label="SP Entity ID",
        slo_label="Single Logout URL",
        name_id_label="SAMLSubject NameID Format",
        attributes={
            _EMAIL: ("Service Provider Attribute Name", "email"),
            _FIRST: ("Service Provider Attribute Name", "firstname"),
            _LAST: ("Service Provider Attribute Name", "lastname"),
            _GROUPS: ("Group Attribute Name", "groups"),
        },
        saml_steps=(
            "In the JumpCloud Admin Portal, open SSO Applications > Add New Application > "
            "Custom Application, with 'Manage Single Sign-On (SSO)' and SAML.",
            "On the SSO tab, set SP Entity ID to {entity_id} and ACS URLs (default URL) to "
            "{acs}; set Single Logout URL to {slo}.",
            "Set SAMLSubject NameID to email and SAMLSubject NameID Format to "
            "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress.",
            "Under Attributes add email, firstname and lastname; tick 'Include group "
            "attribute' and name it groups if groups should follow.",
            "Save, then choose Export Metadata (upload that file here) and bind user groups "
            "to the application.",
        ),
        metadata_hint="SSO tab > Export Metadata (upload the file)",
        scim_base_label="Base URL",
        scim_token_label="Token Key",
        scim_steps=(
            "On the application's Identity Management tab, choose SCIM API 2.0.",
            "Set Base URL to {scim_base} and paste the token as Token Key.",
            "Choose Test Connection (it appears in the status below), then Activate and Save.",
        ),
    ),
    "keycloak": Vendor(
        key="keycloak",
        name="Keycloak",
        acs_label="Assertion Consumer Service POST Binding URL",
        entity_id_label="Client ID",
        slo_label="Logout Service Redirect Binding URL",
        name_id_label="Name ID format",
        attributes={
            _EMAIL: ("Mapper: SAML Attribute Name", "email"),
            _FIRST: ("Mapper: SAML Attribute Name", "firstName"),
            _LAST: ("Mapper: SAML Attribute Name", "lastName"),
            _GROUPS: ("Group list mapper: Group attribute name", "groups"),
        },
        saml_steps=(
            "In the Keycloak admin console, choose the realm, then Clients > Create client "
            "with Client type SAML.",
            "Set Client ID to {entity_id}; set Valid redirect URIs to {acs}.",
            "On the client's Settings, set Name ID format to email and tick 'Force name ID "
            "format'; keep 'Sign assertions' on.",
            "On the Keys tab, turn 'Client signature required' off (unless the product signs "
            "its AuthnRequests).",
            "On the Advanced tab, set Assertion Consumer Service POST Binding URL to {acs} and "
            "Logout Service Redirect Binding URL to {slo}.",
            "Under Client scopes > the client's dedicated scope, add mappers: User Property "
            "email, firstName and lastName (SAML Attribute Name the same), and a Group list "
            "mapper named groups (Full group path off).",
            "The metadata URL is https://<keycloak host>/realms/<realm>/protocol/saml/descriptor.",
        ),
        metadata_hint="https://<keycloak host>/realms/<realm>/protocol/saml/descriptor",
        scim_supported=False,
        scim_steps=(
            "Keycloak has no built-in SCIM client: people are created at their first sign-in "
            "(if a community SCIM extension is installed, give it the SCIM base URL "
            "{scim_base} and the token).",
        ),
    ),
    "other": Vendor(
        key="other",
        name="Other SAML 2.0 identity provider",
        acs_label="Assertion Consumer Service (ACS) URL",
        entity_id_label="SP Entity ID (Audience)",
        slo_label="Single Logout URL",
        name_id_label="NameID format",
        attributes={
            _EMAIL: ("Attribute name", "email"),
            _FIRST: ("Attribute name", "firstName"),
            _LAST: ("Attribute name", "lastName"),
            _GROUPS: ("Attribute name", "groups"),
        },
        saml_steps=(
            "Create a SAML 2.0 application (service provider) in your identity provider.",
            "Set its ACS URL (HTTP-POST binding) to {acs} and its entity id (audience) to "
            "{entity_id}; its Single Logout URL (HTTP-Redirect) to {slo}.",
            "Send the e-mail address as the NameID (format emailAddress) and sign the assertions.",
            "Send the attributes email, firstName and lastName, and groups if groups should "
            "follow.",
            "Give this page the identity provider's metadata: a URL or the XML file.",
        ),
        metadata_hint="your identity provider's SAML metadata URL or XML file",
        scim_steps=(
            "If your identity provider supports SCIM 2.0 provisioning, give it the SCIM base "
            "URL {scim_base} and the token as an HTTP bearer token (Authorization header).",
        ),
    ),
}

#: Labels of our fields in the attributes table.
FIELD_LABELS: dict[str, str] = {
    _EMAIL: "E-mail address",
    _FIRST: "First name",
    _LAST: "Last name",
    _GROUPS: "Groups (optional)",
}


def fill(step: str, values: dict[str, str]) -> str:
    """*step* with its ``{acs}``-style placeholders replaced by *values* (missing: kept)."""
    out = step
    for name, value in values.items():
        out = out.replace("{" + name + "}", value)
    return out
