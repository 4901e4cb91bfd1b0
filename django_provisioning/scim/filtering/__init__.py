"""The SCIM ``filter`` and ``sortBy`` parameters: parse, evaluate, compile to ``Q``."""
