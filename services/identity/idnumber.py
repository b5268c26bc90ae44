"""The resident ID number (公民身份号码, GB 11643-1999): parse and check, with a reason for
each refusal. Pure. The standard's arithmetic (check character, masked form) is in
``shared.idnumber``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from services.identity.errors import IdentityError
from shared.idnumber import check_character, mask_id_number
from shared.regions import PROVINCE_CODES

_SHAPE = re.compile(r"^\d{17}[\dX]$")


class IdNumberFormatError(IdentityError):
    code = "ID_NUMBER_FORMAT"
    default_message = "An ID number has 17 digits followed by a digit or X."


class IdNumberChecksumError(IdentityError):
    code = "ID_NUMBER_CHECKSUM"
    default_message = "The ID number's check character is wrong; please check each digit."


class IdNumberBirthDateError(IdentityError):
    code = "ID_NUMBER_BIRTH_DATE"
    default_message = "The birth date in the ID number is not a real calendar date."


class IdNumberFutureBirthError(IdentityError):
    code = "ID_NUMBER_FUTURE_BIRTH"
    default_message = "The birth date in the ID number is in the future."


class IdNumberProvinceError(IdentityError):
    code = "ID_NUMBER_PROVINCE"
    default_message = "The ID number does not start with a known province code."


@dataclass(frozen=True)
class IdNumber:
    """A valid ID number and what it tells: birth date, sex, province."""

    value: str
    birth_date: date
    sex: Literal["male", "female"]
    province_code: str

    def age_on(self, day: date) -> int:
        """Age in whole years on ``day``."""
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)

    @property
    def masked(self) -> str:
        """The display form: first 4 and last 4 characters, the rest masked."""
        return mask_id_number(self.value)


def parse_id_number(raw: str, today: date) -> IdNumber:
    """Validate an ID number (shape, checksum, real past date, province); raise with a reason."""
    value = raw.strip().upper()
    if not _SHAPE.match(value):
        raise IdNumberFormatError()
    if check_character(value[:17]) != value[17]:
        raise IdNumberChecksumError()
    if value[:2] not in PROVINCE_CODES:
        raise IdNumberProvinceError()
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        raise IdNumberBirthDateError() from None
    if born.year < 1880:
        raise IdNumberBirthDateError()
    if born > today:
        raise IdNumberFutureBirthError()
    sex: Literal["male", "female"] = "male" if int(value[16]) % 2 else "female"
    return IdNumber(value=value, birth_date=born, sex=sex, province_code=value[:2])
