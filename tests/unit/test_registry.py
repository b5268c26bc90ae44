"""Registry input and personal data at rest."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.identity.errors import (
    GuardianInvalidError,
    GuardianRequiredError,
    PhoneInvalidError,
    RegionInvalidError,
)
from services.identity.registration.domain import parse_registration
from services.identity.vault import UnreadableError, Vault, decrypt_field, encrypt_field
from shared.privacy import mask_phone

TODAY = date(2026, 11, 22)
ADULT = "11010519491231002X"
CHILD = "110105201501010017"  # born 2015-01-01: 11 years old


def register(**overrides: str | None):  # type: ignore[no-untyped-def]
    fields: dict[str, str | None] = {
        "name": "张三",
        "id_number": ADULT,
        "phone": "13812345678",
        "region": "110105",
        "guardian_id_number": None,
    } | overrides
    return parse_registration(today=TODAY, **fields)  # type: ignore[arg-type]


def test_an_adult_registers_alone() -> None:
    registration = register(phone="+86 138 1234 5678")
    assert registration.phone == "13812345678"
    assert not registration.needs_guardian(TODAY)


def test_a_child_needs_an_adult_guardian() -> None:
    with pytest.raises(GuardianRequiredError):
        register(id_number=CHILD)
    assert register(id_number=CHILD, guardian_id_number=ADULT).needs_guardian(TODAY)
    with pytest.raises(GuardianInvalidError):
        register(id_number=CHILD, guardian_id_number=CHILD)


@pytest.mark.parametrize("phone", ["12812345678", "1381234567", "138123456789", "abc"])
def test_a_bad_mobile_number_is_refused(phone: str) -> None:
    with pytest.raises(PhoneInvalidError):
        register(phone=phone)


@pytest.mark.parametrize("region", ["99010", "990101", "4101050"])
def test_a_bad_region_is_refused(region: str) -> None:
    with pytest.raises(RegionInvalidError):
        register(region=region)


def test_phones_are_masked() -> None:
    assert mask_phone("13812345678") == "138****5678"


@given(st.text(min_size=0, max_size=50))
def test_sealed_fields_open_only_for_their_person_and_field(value: str) -> None:
    vault = Vault(b"m" * 32)
    key, wrapped = vault.new_person_key("p1")
    assert vault.unwrap("p1", wrapped) == key
    token = encrypt_field(key, "p1", "name", value)
    if len(value) >= 8:
        assert value not in token
    assert decrypt_field(key, "p1", "name", token) == value
    with pytest.raises(UnreadableError):
        decrypt_field(key, "p2", "name", token)
    with pytest.raises(UnreadableError):
        decrypt_field(key, "p1", "phone", token)
    with pytest.raises(UnreadableError):
        vault.unwrap("p2", wrapped)
