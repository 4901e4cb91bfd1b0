"""SCIM 2.0 URLs. Include under your SCIM prefix, e.g. ``path("scim/v2/", include(...))``.

Trailing slashes are optional, as identity providers send both. Every other path under the
prefix answers a SCIM 404 body.
"""

from django.urls import path, re_path

from . import bulk, discovery, group_views, root_search, views

app_name = "django_provisioning_scim"

urlpatterns = [
    path("", discovery.ServiceProviderConfigView.as_view(), name="root"),
    re_path(
        r"^ServiceProviderConfig/?$",
        discovery.ServiceProviderConfigView.as_view(),
        name="service-provider-config",
    ),
    re_path(r"^ResourceTypes/?$", discovery.ResourceTypesView.as_view(), name="resource-types"),
    re_path(
        r"^ResourceTypes/(?P<name>[^/]+)/?$",
        discovery.ResourceTypesView.as_view(),
        name="resource-type",
    ),
    re_path(r"^Schemas/?$", discovery.SchemasView.as_view(), name="schemas"),
    re_path(r"^Schemas/(?P<urn>[^/]+)/?$", discovery.SchemasView.as_view(), name="schema"),
    re_path(r"^Users/?$", views.UserListView.as_view(), name="users"),
    re_path(r"^Users/\.search/?$", views.UserSearchView.as_view(), name="users-search"),
    re_path(r"^\.search/?$", root_search.RootSearchView.as_view(), name="search"),
    re_path(r"^Users/(?P<scim_id>[^/]+)/?$", views.UserDetailView.as_view(), name="user"),
    re_path(r"^Groups/?$", group_views.GroupListView.as_view(), name="groups"),
    re_path(r"^Groups/\.search/?$", group_views.GroupSearchView.as_view(), name="groups-search"),
    re_path(r"^Groups/(?P<scim_id>[^/]+)/?$", group_views.GroupDetailView.as_view(), name="group"),
    re_path(r"^Bulk/?$", bulk.BulkView.as_view(), name="bulk"),
    re_path(r"^Me/?$", views.NotImplementedView.as_view(), name="unsupported"),
    re_path(r"^.*$", views.NotFoundView.as_view(), name="not-found"),
]
