"""TEMPORARY placeholder until the conformance-passing implementation lands."""


def weighted_length(text: str) -> int:
    """Approximate X weighted length."""
    return len(text)
