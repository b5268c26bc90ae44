"""Made-up citizens for the demo and tests: valid ID numbers, names, signed face checks."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from shared.contracts.facecheck import FaceCheckResult, dev_provider_key, sign_face_check
from shared.idnumber import check_character

#: A few real prefecture-level address codes (province + city + district).
ADDRESS_CODES = ("110101", "310104", "410105", "440305", "510107", "650102", "330106", "420106")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
MINORITY_NAMES = ("阿依古丽·买买提", "努尔兰·吐尔逊", "扎西·多吉")


@dataclass(frozen=True)
class Citizen:
    """A made-up person: never a real one."""

    name: str
    id_number: str
    region: str
    phone: str

    def registration(self) -> dict[str, str]:
        """The registry's record of this citizen (what the agency's file holds)."""
        return {
            "name": self.name,
            "id_number": self.id_number,
            "phone": self.phone,
            "region": self.region,
        }


def make_id_number(rng: random.Random, address: str, born: date) -> str:
    """A valid 18-character ID number for an address code and birth date."""
    first17 = f"{address}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + check_character(first17)


def fake_citizen(rng: random.Random, today: date | None = None) -> Citizen:
    """An adult citizen with a valid ID number and a Chinese (sometimes minority) name."""
    today = today or date.today()
    address = rng.choice(ADDRESS_CODES)
    born = today - timedelta(days=rng.randrange(18 * 366, 80 * 365))
    if rng.random() < 0.1:
        name = rng.choice(MINORITY_NAMES)
    else:
        name = rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2)))
    phone = f"1{rng.choice('3589')}{rng.randrange(10**9):09d}"
    return Citizen(name, make_id_number(rng, address, born), address, phone)


def face_check_for(
    citizen: Citizen, *, score: float = 96.5, liveness: bool = True, at: datetime | None = None
) -> FaceCheckResult:
    """A face check signed by the development provider, as its device would send it."""
    from shared.envelope import utc_now

    return sign_face_check(
        dev_provider_key(),
        provider="dev-face",
        nonce=secrets.token_hex(16),
        id_number=citizen.id_number,
        checked_at=at or utc_now(),
        score=score,
        liveness_passed=liveness,
    )
