"""Names spliced into SQL must be plain identifiers."""

import re

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_identifier(name: str) -> str:
    """``name`` if it is a lower-case SQL identifier, else ValueError."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid SQL identifier {name!r}")
    return name
