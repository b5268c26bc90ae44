"""Person facts: what identity tells card and activation without the data behind them."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.activation.settings import ActivationSettings
from services.identity import domain as identity
from shared.contracts.identity import IdentityVerified, PersonFactsIssued
from shared.facts import DEV_KEY_ID, FactsKeys, parse_keys, turns
from shared.privacy import UnreadableError
from tests.unit.samples import NOW, production_secrets
from tests.unit.test_identity_decider import registered, verify

ID_NUMBER = "11010520100307002X"
KEYS = FactsKeys(parse_keys({}, production=False))
OTHER = FactsKeys({"k2": bytes(range(32))})


def test_every_six_digit_run_of_the_id_number_is_hashed_and_nothing_else() -> None:
    windows = set(KEYS.password_windows("p1", ID_NUMBER))
    runs = {ID_NUMBER[i : i + 6] for i in range(13)}  # the last run ends in X: not a password
    assert len(windows) == len(runs - {"07002X"}) == 12
    for run in runs - {"07002X"}:
        assert KEYS.digest(DEV_KEY_ID, "p1", run) in windows
    assert KEYS.digest(DEV_KEY_ID, "p1", "135792") not in windows
    assert not any(run in w for w in windows for run in runs), "no run appears in clear"


def test_windows_are_bound_to_the_person_and_the_key() -> None:
    mine = set(KEYS.password_windows("p1", ID_NUMBER))
    assert mine.isdisjoint(KEYS.password_windows("p2", ID_NUMBER))
    assert mine.isdisjoint(OTHER.password_windows("p1", ID_NUMBER))


def test_the_photo_exemption_is_sealed_for_the_person() -> None:
    sealed = KEYS.seal_photo_exempt_until("p1", date(2017, 3, 7))
    assert "2017" not in base64.b64decode(sealed).decode("latin-1")
    assert KEYS.photo_exempt_until(DEV_KEY_ID, "p1", sealed) == date(2017, 3, 7)
    with pytest.raises(UnreadableError):
        KEYS.photo_exempt_until(DEV_KEY_ID, "p2", sealed)  # moved to another person


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2090, 12, 31)))
@settings(max_examples=200)
def test_a_person_turns_seven_on_their_birthday(birth: date) -> None:
    seventh = turns(birth, 7)
    assert seventh.year == birth.year + 7
    assert (seventh.month, seventh.day) == (
        (birth.month, birth.day) if (birth.month, birth.day) != (2, 29) else (3, 1)
    )


def test_facts_are_issued_before_the_first_verification_under_a_key() -> None:
    facts = PersonFactsIssued(
        key_id="k1", password_windows=["a"], photo_exempt_until="s", issued_at=NOW
    )
    first = identity.decide(registered(), replace_facts(verify(), facts))
    assert [type(e) for e in first] == [PersonFactsIssued, IdentityVerified]
    again = identity.decide(registered(*first), replace_facts(verify(), facts))
    assert [type(e) for e in again] == [IdentityVerified]
    rotated = facts.model_copy(update={"key_id": "k2"})
    after_rotation = identity.decide(registered(*first), replace_facts(verify(), rotated))
    assert [type(e) for e in after_rotation] == [PersonFactsIssued, IdentityVerified]
    failed = identity.decide(registered(), replace_facts(verify(name_matches=False), facts))
    assert PersonFactsIssued not in [type(e) for e in failed]


def replace_facts(
    command: identity.VerifyIdentity, facts: PersonFactsIssued
) -> identity.VerifyIdentity:
    return replace(command, facts=facts)


def test_facts_keys_are_real_and_required_in_production() -> None:
    with pytest.raises(ValueError, match="not base64"):
        parse_keys({"k1": "not base64!"}, production=False)
    with pytest.raises(ValueError, match="32 random bytes"):
        parse_keys({"k1": base64.b64encode(bytes(32)).decode()}, production=False)
    with pytest.raises(ValueError, match="SHEBAO_FACTS_KEYS"):
        parse_keys({}, production=True)
    key = base64.b64encode(bytes(range(32))).decode()
    with pytest.raises(ValueError, match="SHEBAO_FACTS_KEYS"):
        ActivationSettings(**{**production_secrets(), "SHEBAO_FACTS_KEYS": {}})
    older = base64.b64encode(bytes(range(1, 33))).decode()
    newest_first = ActivationSettings(SHEBAO_FACTS_KEYS={"k2": key, "k1": older})
    assert newest_first.facts().current == "k2"
