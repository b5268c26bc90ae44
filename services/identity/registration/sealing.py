"""Turning a checked registration into a PersonRegistered event under a fresh person key."""

from __future__ import annotations

from dataclasses import dataclass

from services.identity.registration.domain import Registration
from services.identity.vault import Vault, decrypt_field
from shared.contracts.identity import PersonRegistered
from shared.envelope import new_event_id
from shared.privacy import field_sealer, keyed_hash, mask_phone


@dataclass(frozen=True)
class NewPerson:
    """A person about to be registered: their id, wrapped key and event."""

    person_id: str
    wrapped_key: bytes
    event: PersonRegistered


def new_person(
    registration: Registration, guardian_person_id: str | None, vault: Vault, hash_key: str
) -> NewPerson:
    """Allocate a person id and key, and seal the personal data into the event."""
    person_id = str(new_event_id())
    key, wrapped = vault.new_person_key(person_id)

    seal = field_sealer(key, person_id)
    event = PersonRegistered(
        id_number_hash=keyed_hash(hash_key, registration.id_number.value),
        masked_id_number=registration.id_number.masked,
        masked_phone=mask_phone(registration.phone) if registration.phone else None,
        region=registration.region,
        sex=registration.id_number.sex,
        guardian_person_id=guardian_person_id,
        name_ciphertext=seal("name", registration.name),
        id_number_ciphertext=seal("id_number", registration.id_number.value),
        birth_date_ciphertext=seal("birth_date", registration.id_number.birth_date.isoformat()),
        phone_ciphertext=seal("phone", registration.phone) if registration.phone else None,
    )
    return NewPerson(person_id, wrapped, event)


def same_details(
    stored_name: str | None,
    stored_phone: str | None,
    key: bytes,
    person_id: str,
    registration: Registration,
) -> bool:
    """Whether a registered person's sealed name and phone are the ones given again."""
    name = decrypt_field(key, person_id, "name", stored_name) if stored_name else None
    phone = decrypt_field(key, person_id, "phone", stored_phone) if stored_phone else None
    return name == registration.name and phone == registration.phone
