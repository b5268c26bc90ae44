"""Regions (参保地): 6-digit administrative codes whose first two digits name the province."""

import re
from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")

#: Provinces, autonomous regions and municipalities; Taiwan (71), Hong Kong (81), Macao (82),
#: and residence permits of Taiwan residents (83).
PROVINCE_CODES = frozenset(
    {
        *(str(n) for n in range(11, 16)),
        *(str(n) for n in range(21, 24)),
        *(str(n) for n in range(31, 38)),
        *(str(n) for n in range(41, 47)),
        *(str(n) for n in range(50, 55)),
        *(str(n) for n in range(61, 66)),
        "71",
        "81",
        "82",
        "83",
    }
)
REGION_PATTERN = r"^\d{6}$"
_REGION = re.compile(REGION_PATTERN)


def is_region(code: str) -> bool:
    """Whether ``code`` is a 6-digit region code in a known province."""
    return bool(_REGION.match(code)) and code[:2] in PROVINCE_CODES


def province_of(region: str) -> str:
    """The province (first two digits) of a region code."""
    return region[:2]


def for_region(setting: Mapping[str, T], region: str, default: T) -> T:
    """A per-region setting's value for ``region``: its own, else its province's, else the
    default. A configured value counts even when it is 0 or empty."""
    if region in setting:
        return setting[region]
    return setting.get(province_of(region), default)
