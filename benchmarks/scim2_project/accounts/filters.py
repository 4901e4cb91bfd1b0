from django_scim.filters import UserFilterQuery as BaseUserFilterQuery


class UserFilterQuery(BaseUserFilterQuery):
    """The default map plus externalId and emails.value (the columns the model has)."""

    attr_map = {
        **BaseUserFilterQuery.attr_map,
        ("externalId", None, None): "scim_external_id",
        ("emails", "value", None): "email",
    }
