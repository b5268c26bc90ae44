"""GB 11643-1999's arithmetic that any party may do with a resident ID number: its check
character and its masked display form. Parsing a number, with a reason for each refusal, is
identity's (services/identity/idnumber.py). Pure."""

from __future__ import annotations

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"


def check_character(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def mask_id_number(value: str) -> str:
    """``410105199001011234`` -> ``4101**********1234``."""
    return value[:4] + "*" * (len(value) - 8) + value[-4:]
