"""The example SaaS's organizations and memberships in the admin site."""

from __future__ import annotations

from django.contrib import admin

from .models import Membership, Organization


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "connection")
    prepopulated_fields = {"slug": ("name",)}
    inlines = [MembershipInline]
