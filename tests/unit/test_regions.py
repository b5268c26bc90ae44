"""Per-region settings: the region's own value, else its province's, else the default."""

from __future__ import annotations

from services.card.settings import CardSettings
from services.identity.settings import IdentitySettings
from shared.regions import for_region


def test_the_region_then_its_province_then_the_default() -> None:
    setting = {"110105": 3, "44": 5}
    assert for_region(setting, "110105", 8) == 3
    assert for_region(setting, "440305", 8) == 5
    assert for_region(setting, "310101", 8) == 8


def test_a_configured_zero_is_not_the_default() -> None:
    # A province that lets no family members be linked, a region whose replacement is free.
    assert IdentitySettings(family_limit={"44": 0}).family_limit_for("440305") == 0
    assert CardSettings(replacement_fee_fen={"440305": 0}).replacement_fee("440305") == 0
    assert CardSettings().replacement_fee("440305") == 2000
