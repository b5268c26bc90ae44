"""Identity's pure domain: names, the person's verification state, decide and evolve."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime

from services.identity.errors import NameInvalidError
from services.identity.idnumber import IdNumber
from shared.contracts import EventPayload, IdentityVerified
from shared.contracts.identity import VerificationLevel

# Chinese names (with the middle dot of minority names), or Latin-script foreign names.
_CHINESE_NAME = re.compile(
    r"^[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef]+(·[\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U0002ebef]+)*$"
)
_LATIN_NAME = re.compile(r"^[A-Za-zÀ-ÖØ-öø-ÿ]+([ '\-.][A-Za-zÀ-ÖØ-öø-ÿ]+)*\.?$")
_DOTS = str.maketrans({"•": "·", "・": "·", "‧": "·", "∙": "·", "．": "·"})


def normalize_name(raw: str) -> str:
    """NFKC-normalised name with one kind of middle dot; NameInvalidError if not a name."""
    name = unicodedata.normalize("NFKC", raw).strip()
    name = re.sub(r"\s+", " ", name)
    chinese = name.translate(_DOTS)
    if 2 <= len(chinese) <= 40 and _CHINESE_NAME.match(chinese):
        return chinese
    if 2 <= len(name) <= 80 and _LATIN_NAME.match(name):
        return name
    raise NameInvalidError()


@dataclass(frozen=True)
class VerifyIdentity:
    """A channel asks to verify a person: real-name, and real-person when a face check came."""

    channel: str
    id_number: IdNumber
    id_number_hash: str
    face_provider: str | None
    at: datetime


@dataclass(frozen=True)
class Person:
    """What the identity stream of one person says."""

    level: VerificationLevel | None = None
    verifications: int = 0


def decide(state: Person, command: VerifyIdentity) -> list[EventPayload]:
    """A verification that passed every check records the level reached."""
    level: VerificationLevel = "real_person" if command.face_provider else "real_name"
    return [
        IdentityVerified(
            level=level,
            channel=command.channel,
            masked_id_number=command.id_number.masked,
            id_number_hash=command.id_number_hash,
            face_provider=command.face_provider,
            verified_at=command.at,
        )
    ]


def evolve(state: Person, event: EventPayload) -> Person:
    """Apply one of the person's own events."""
    match event:
        case IdentityVerified(level=level):
            best: VerificationLevel = (
                "real_person" if "real_person" in (state.level, level) else "real_name"
            )
            return replace(state, level=best, verifications=state.verifications + 1)
        case _:
            return state
