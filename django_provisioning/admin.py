"""Admin for connections, SCIM tokens (issue and revoke), domain claims (verify by DNS), link
rows and audit events."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from . import groups
from .connections import effective_q
from .declared import declared_connections, is_retired
from .exceptions import DomainTaken
from .models import (
    AuditEvent,
    Connection,
    DeprovisionPolicy,
    DomainSource,
    ExternalGroup,
    ExternalIdentity,
    ScimToken,
    SetupLink,
)
from .portal.links import PortalNotConfigured, create_link, revoke_link
from .saml.admin_forms import URL_FIELD_OPTIONS, ConnectionAdminForm
from .saml.metadata_import import MetadataError, certificate_expiry
from .tokens import issue_token, revoke_token


class ScimTokenInline(admin.TabularInline):
    model = ScimToken
    extra = 0
    fields = ("name", "prefix", "created_at", "expires_at", "revoked_at", "last_used_at")
    readonly_fields = ("prefix", "created_at", "revoked_at", "last_used_at")
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # Issue tokens with the action, which shows the secret once.


class EffectiveFilter(admin.SimpleListFilter):
    """Filter connections on an option as it is in force: settings laid over the rows."""

    option = ""
    values: tuple[tuple[Any, Any], ...] = ()

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        return [(str(value), label) for value, label in self.values]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Connection]) -> Any:
        for value, _label in self.values:
            if self.value() == str(value):
                return queryset.filter(effective_q(self.option, value))
        return queryset


class ActiveFilter(EffectiveFilter):
    title = _("active")
    parameter_name = option = "is_active"
    values = ((True, _("Yes")), (False, _("No")))


class PolicyFilter(EffectiveFilter):
    title = _("on SCIM DELETE")
    parameter_name = option = "deprovision_policy"
    values = tuple(DeprovisionPolicy.choices)


class SourceFilter(admin.SimpleListFilter):
    title = _("declared in")
    parameter_name = "source"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        return [
            ("settings", _("settings")),
            ("retired", _("settings, since removed (inactive)")),
            ("database", _("database")),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Connection]) -> Any:
        declared = list(declared_connections())
        if self.value() == "settings":
            return queryset.filter(slug__in=declared)
        if self.value() == "retired":
            return queryset.filter(from_settings=True).exclude(slug__in=declared)
        if self.value() == "database":
            return queryset.filter(from_settings=False).exclude(slug__in=declared)
        return queryset


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    """Connections as they are in force: a declared one shows (read-only) what its settings say,
    and filters match on that too (see :func:`.declared.effective`)."""

    # The admin builds form fields itself (its formfield_callback wins over the form's).
    formfield_overrides = {models.URLField: URL_FIELD_OPTIONS}
    form = ConnectionAdminForm  # adds "paste IdP metadata XML"
    list_display = ("slug", "name", "is_active", "source", "deprovision_policy")
    list_filter = (ActiveFilter, SourceFilter, PolicyFilter)
    search_fields = ("slug", "name", "idp_entity_id")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [ScimTokenInline]
    actions = ["issue_scim_token", "create_setup_link"]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "slug",
                    "name",
                    "is_active",
                    "deprovision_policy",
                    "verified_domains",
                    "dns_verified_domains",
                )
            },
        ),
        (
            _("SAML identity provider"),
            {
                "fields": (
                    "idp_entity_id",
                    "idp_sso_url",
                    "idp_slo_url",
                    "idp_x509_certs",
                    "idp_certificate_expiry",
                    "idp_metadata_url",
                    "idp_metadata_xml",
                )
            },
        ),
        (
            _("SAML service provider"),
            {
                "fields": (
                    "name_id_format",
                    "sign_authn_requests",
                    "want_assertions_signed",
                    "want_messages_signed",
                    "want_assertions_encrypted",
                    "sp_certificate",
                    "sp_private_key",
                    "clock_skew",
                    "allow_idp_initiated",
                    "accept_unsigned_logout_response",
                )
            },
        ),
        (
            _("Just-in-time provisioning"),
            {
                "fields": (
                    "jit_create",
                    "jit_update",
                    "link_by_email",
                    "attribute_mapping",
                    "groups_attribute",
                    "group_mapping",
                )
            },
        ),
    )

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The form refuses a domain another connection verifies; a save that loses a race
        for one (both passed the form at once) is refused here, with nothing written."""
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainTaken as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def get_prepopulated_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.from_settings:
            return {}  # slug is read-only there; prepopulating it would break the form
        return super().get_prepopulated_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is not None and obj.from_settings:
            # Settings are authoritative: what is shown is read from them (the row loads with
            # them laid over it), and an edit here would change nothing in force.
            return [*(f.name for f in Connection._meta.fields), *self.DISPLAYED]
        return self.DISPLAYED

    DISPLAYED = ("dns_verified_domains", "idp_certificate_expiry")

    @admin.display(description=_("verified by DNS"))
    def dns_verified_domains(self, obj: Connection) -> str:
        if obj.pk is None:
            return "-"
        rows = obj.domain_claims.filter(source=DomainSource.DNS).values_list("domain", flat=True)
        return ", ".join(rows) or "-"

    @admin.display(description=_("IdP certificates expire"))
    def idp_certificate_expiry(self, obj: Connection) -> str:
        now = timezone.now()
        lines = []
        for number, cert in enumerate(obj.idp_x509_certs or [], start=1):
            try:
                expiry = certificate_expiry(str(cert))
            except MetadataError:
                lines.append((number, str(_("unreadable"))))
                continue
            days = (expiry - now).days
            state = str(_("expired") if expiry <= now else _("in %(days)d days") % {"days": days})
            lines.append((number, f"{expiry:%Y-%m-%d %H:%M} UTC ({state})"))
        if not lines:
            return "-"
        return format_html_join("", "<div>#{}: {}</div>", lines)

    @admin.display(description=_("declared in"))
    def source(self, obj: Connection) -> str:
        if is_retired(obj):
            return str(_("settings, since removed (inactive)"))
        return str(_("settings") if obj.from_settings else _("database"))

    @admin.action(description=_("Issue a new SCIM token (shown once)"))
    def issue_scim_token(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset:
            _token, raw = issue_token(connection, name=f"admin: {request.user}")
            self.message_user(
                request,
                _("New SCIM token for %(slug)s (copy it now, it is not shown again): %(token)s")
                % {"slug": connection.slug, "token": raw},
                messages.WARNING,
            )

    @admin.action(description=_("Create setup link (shown once)"))
    def create_setup_link(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset:
            try:
                link, url = create_link(connection, created_by=f"admin: {request.user}")
            except PortalNotConfigured as exc:
                self.message_user(request, str(exc), messages.ERROR)
                return
            self.message_user(
                request,
                _(
                    "Setup link for %(slug)s, valid until %(expires)s (copy it now, it is not "
                    "shown again): %(url)s"
                )
                % {"slug": connection.slug, "expires": link.expires_at, "url": url},
                messages.WARNING,
            )


@admin.register(SetupLink)
class SetupLinkAdmin(admin.ModelAdmin):
    list_display = (
        "connection",
        "created_at",
        "expires_at",
        "bound_at",
        "revoked_at",
        "created_by",
    )
    list_filter = ("connection",)
    list_select_related = ("connection",)
    readonly_fields = [f.name for f in SetupLink._meta.fields if f.name != "token_hash"]
    exclude = ("token_hash",)
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Create links from the connection (action) or create_setup_link.

    @admin.action(description=_("Revoke selected setup links"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[SetupLink]) -> None:
        revoked = sum(revoke_link(link) for link in queryset)
        self.message_user(request, _("%(count)d setup link(s) revoked.") % {"count": revoked})


class ScimTokenForm(forms.ModelForm):
    class Meta:
        model = ScimToken
        fields = ("name", "expires_at")


@admin.register(ScimToken)
class ScimTokenAdmin(admin.ModelAdmin):
    form = ScimTokenForm
    list_display = (
        "prefix",
        "connection",
        "name",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("connection",)
    readonly_fields = ("connection", "prefix", "created_at", "revoked_at", "last_used_at")
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Issue tokens from the connection (action) or create_scim_token.

    @admin.action(description=_("Revoke selected tokens"))
    def revoke(self, request: HttpRequest, queryset: QuerySet[ScimToken]) -> None:
        tokens = list(queryset.filter(revoked_at=None))
        for token in tokens:
            revoke_token(token)
        self.message_user(request, _("%(count)d token(s) revoked.") % {"count": len(tokens)})


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(admin.ModelAdmin):
    list_display = (
        "user_name",
        "connection",
        "user",
        "external_id",
        "name_id",
        "deleted_at",
        "updated_at",
    )
    list_filter = ("connection",)
    search_fields = ("user_name", "external_id", "name_id", "scim_id")
    list_select_related = ("connection", "user")
    readonly_fields = [f.name for f in ExternalIdentity._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # Link rows are written by the provisioning core only.


@admin.register(ExternalGroup)
class ExternalGroupAdmin(admin.ModelAdmin):
    list_display = ("display_name", "connection", "group", "owns_group", "external_id")
    list_filter = ("connection",)
    search_fields = ("display_name", "external_id")
    list_select_related = ("connection", "group")
    readonly_fields = [f.name for f in ExternalGroup._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # IdP groups are written by the provisioning core only.

    def delete_model(self, request: HttpRequest, obj: ExternalGroup) -> None:
        # Through the core: the memberships its doors granted go too (a product's stay).
        groups.delete_group(obj, source="admin")

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ExternalGroup]) -> None:
        for obj in queryset.select_related("connection"):
            groups.delete_group(obj, source="admin")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "connection", "source", "action", "target", "user")
    list_filter = ("source", "action", "connection")
    search_fields = ("target",)
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# The domain claims' admin (verify by DNS) lives beside this module; registered on import.
from . import domain_admin  # noqa: E402, F401
