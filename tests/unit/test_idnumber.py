"""The GB 11643-1999 ID number validator."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.identity.idnumber import (
    IdNumberBirthDateError,
    IdNumberChecksumError,
    IdNumberFormatError,
    IdNumberFutureBirthError,
    IdNumberProvinceError,
    parse_id_number,
)
from shared.idnumber import check_character, mask_id_number
from shared.regions import PROVINCE_CODES

TODAY = date(2026, 11, 22)


def with_check(first17: str) -> str:
    return first17 + check_character(first17)


def test_the_standard_example_is_valid() -> None:
    # The example of GB 11643-1999 itself.
    parsed = parse_id_number("11010519491231002X", TODAY)
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "female"
    assert parsed.province_code == "11"
    assert parsed.age_on(TODAY) == 76


def test_lower_case_x_and_spaces_are_accepted() -> None:
    assert parse_id_number(" 11010519491231002x ", TODAY).value == "11010519491231002X"


def test_a_bad_checksum_is_refused() -> None:
    with pytest.raises(IdNumberChecksumError):
        parse_id_number("110105194912310021", TODAY)


@pytest.mark.parametrize("birth", ["19990230", "20230229", "19991301", "19990000", "18000101"])
def test_an_impossible_birth_date_is_refused(birth: str) -> None:
    with pytest.raises(IdNumberBirthDateError):
        parse_id_number(with_check(f"410105{birth}123"), TODAY)


def test_a_leap_day_is_a_real_date() -> None:
    assert parse_id_number(with_check("41010520000229123"), TODAY).birth_date.day == 29


def test_a_birth_date_in_the_future_is_refused() -> None:
    with pytest.raises(IdNumberFutureBirthError):
        parse_id_number(with_check("41010520261123123"), TODAY)


def test_an_unknown_province_is_refused() -> None:
    with pytest.raises(IdNumberProvinceError):
        parse_id_number(with_check("99010519491231002"), TODAY)


@pytest.mark.parametrize("raw", ["", "1234", "11010519491231002XX", "1101051949123100AX"])
def test_a_malformed_number_is_refused(raw: str) -> None:
    with pytest.raises(IdNumberFormatError):
        parse_id_number(raw, TODAY)


def test_masking_keeps_only_both_ends() -> None:
    assert mask_id_number("11010519491231002X") == "1101**********002X"


valid_numbers = st.builds(
    lambda province, rest, born, seq: with_check(f"{province}{rest:04d}{born:%Y%m%d}{seq:03d}"),
    st.sampled_from(sorted(PROVINCE_CODES)),
    st.integers(0, 9999),
    st.dates(date(1900, 1, 1), TODAY),
    st.integers(0, 999),
)


@given(valid_numbers)
def test_every_valid_number_is_accepted(number: str) -> None:
    assert parse_id_number(number, TODAY).value == number


@given(valid_numbers, st.integers(0, 17), st.integers(1, 10))
def test_any_single_changed_character_is_refused(number: str, position: int, shift: int) -> None:
    alphabet = "0123456789X" if position == 17 else "0123456789"
    index = alphabet.index(number[position])
    changed = alphabet[(index + shift) % len(alphabet)]
    if changed == number[position]:
        changed = alphabet[(index + 1) % len(alphabet)]
    mutated = number[:position] + changed + number[position + 1 :]
    # Weights are non-zero mod 11 (a prime), so any single substitution changes the sum.
    with pytest.raises(IdNumberChecksumError):
        parse_id_number(mutated, TODAY)
