"""The schema both doors speak: User definitions, the canonical document, attribute paths."""
