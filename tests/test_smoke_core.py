from django.contrib.auth import get_user_model

from django_provisioning.models import AuditEvent, ExternalIdentity

from .factories import scim_user


def test_create_user_through_core(connection):
    identity = scim_user(
        connection,
        "Alice@Example.com",
        name={"givenName": "Alice"},
        emails=[{"value": "alice@example.com", "primary": True}],
    )
    user = get_user_model().objects.get()
    assert identity.user == user
    assert identity.user_name_normalized == "alice@example.com"
    assert ExternalIdentity.objects.count() == 1
    assert AuditEvent.objects.filter(action="create").count() == 1
