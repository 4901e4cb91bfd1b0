"""Deliberately empty pysaml2 attribute map directory: the test IdP sends names verbatim."""
