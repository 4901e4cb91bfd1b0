from django.contrib.auth.models import AbstractUser
from django_scim.models import AbstractSCIMUserMixin


class User(AbstractSCIMUserMixin, AbstractUser):
    """django-scim2's documented user: its SCIM columns on Django's user."""

    @property
    def scim_groups(self):  # type: ignore[no-untyped-def]
        # No SCIM group model is configured (the comparison is about users): no groups, and
        # no query for them (ours renders a user's groups with one query: a bias for theirs).
        return self.groups.none()
