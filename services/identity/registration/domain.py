"""The insured-person registry's input: one person's details, checked field by field. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from services.identity.domain import GUARDIAN_AGE, normalize_name
from services.identity.errors import (
    GuardianInvalidError,
    GuardianRequiredError,
    PhoneInvalidError,
    RegionInvalidError,
)
from services.identity.idnumber import IdNumber, parse_id_number
from shared.regions import is_region

_MOBILE = re.compile(r"^1[3-9]\d{9}$")


@dataclass(frozen=True)
class Registration:
    """A person as the agency registers them, every field checked."""

    name: str
    id_number: IdNumber
    phone: str | None
    region: str
    guardian_id_number: IdNumber | None

    def needs_guardian(self, today: date) -> bool:
        """Whether the person is under 16 today."""
        return self.id_number.age_on(today) < GUARDIAN_AGE


def parse_registration(
    *,
    name: str,
    id_number: str,
    phone: str | None,
    region: str,
    guardian_id_number: str | None,
    today: date,
) -> Registration:
    """Check every field; raise the first reason the registration cannot be accepted."""
    person = parse_id_number(id_number, today)
    clean_name = normalize_name(name)
    clean_phone = (phone or "").strip().replace(" ", "").removeprefix("+86") or None
    if clean_phone is not None and not _MOBILE.match(clean_phone):
        raise PhoneInvalidError()
    if not is_region(region.strip()):
        raise RegionInvalidError()
    guardian = parse_id_number(guardian_id_number, today) if guardian_id_number else None
    registration = Registration(clean_name, person, clean_phone, region.strip(), guardian)
    if registration.needs_guardian(today) and guardian is None:
        raise GuardianRequiredError()
    if guardian is not None and (guardian.value == person.value or guardian.age_on(today) < 18):
        raise GuardianInvalidError()
    return registration
