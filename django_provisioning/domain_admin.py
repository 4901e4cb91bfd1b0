"""Admin for domain claims: prove a domain for a connection by DNS, verify, withdraw.

Add a claim (connection, domain): its page shows the TXT record to give the domain's owner.
Then the "verify" action looks it up (:func:`django_provisioning.domains.verify_domain`) and
says, per claim, what it found; "withdraw" un-verifies a DNS-verified domain.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .domains import (
    RECORD_LABEL,
    RECORD_PREFIX,
    clean_domain,
    domain_challenge,
    verify_domain,
    withdraw_domain,
)
from .models import DomainClaim


class DomainClaimForm(forms.ModelForm):
    class Meta:
        model = DomainClaim
        fields = ("connection", "domain")

    def clean_domain(self) -> str:
        try:
            return clean_domain(self.cleaned_data.get("domain", ""))
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(DomainClaim)
class DomainClaimAdmin(admin.ModelAdmin):
    """Proving a domain by DNS: add a claim (connection, domain), give its TXT record to the
    domain's owner, then run the "verify" action."""

    form = DomainClaimForm
    list_display = ("domain", "connection", "record_name", "record_value", "verified_at")
    list_filter = ("connection",)
    search_fields = ("domain",)
    list_select_related = ("connection",)
    readonly_fields = ("record_name", "record_value", "created_at", "verified_at")
    actions = ["verify", "withdraw"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("connection", "domain", *(self.readonly_fields if obj is not None else ()))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return () if obj is None else ("connection", "domain", *self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: DomainClaim, form: Any, change: bool) -> None:
        if not change:  # the token is domain_challenge's to make
            challenge = domain_challenge(obj.connection, obj.domain)
            obj.pk = DomainClaim.objects.get(connection=obj.connection, domain=challenge.domain).pk
            obj.refresh_from_db()

    @admin.display(description=_("TXT record name"))
    def record_name(self, obj: DomainClaim) -> str:
        return f"{RECORD_LABEL}.{obj.domain}"

    @admin.display(description=_("TXT record value"))
    def record_value(self, obj: DomainClaim) -> str:
        return f"{RECORD_PREFIX}{obj.token}"

    @admin.action(description=_("Verify the selected domains (look up their TXT records)"))
    def verify(self, request: HttpRequest, queryset: QuerySet[DomainClaim]) -> None:
        for claim in queryset.select_related("connection"):
            result = verify_domain(claim.connection, claim.domain)
            level = messages.SUCCESS if result.verified else messages.ERROR
            self.message_user(request, f"{claim.connection}: {result.message}", level)

    @admin.action(description=_("Withdraw the selected DNS-verified domains"))
    def withdraw(self, request: HttpRequest, queryset: QuerySet[DomainClaim]) -> None:
        done = [
            c
            for c in queryset.select_related("connection")
            if withdraw_domain(c.connection, c.domain)
        ]
        self.message_user(request, _("%(count)d domain(s) withdrawn.") % {"count": len(done)})
