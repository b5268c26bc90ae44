"""Turning checked registrations into PersonRegistered events under fresh person keys: in the
service's process, or for a large import in worker processes that hand back the rows to write
(``seal_rows``: the sealing is pure CPU, and one process would be the import's bottleneck)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.identity import domain
from services.identity.registration.domain import Registration
from services.identity.store import person_row
from services.identity.vault import Vault, decrypt_field
from shared.contracts.identity import PersonRegistered
from shared.envelope import Envelope, new_event_id
from shared.eventstore import Causation, EventStore, Rows, Write
from shared.privacy import field_sealer, keyed_hash, mask_phone

#: A person to register: their checked registration, the person id given them, and their
#: guardian's person id (a minor's).
Planned = tuple[Registration, str, str | None]


@dataclass(frozen=True)
class NewPerson:
    """A person about to be registered: their id, wrapped key and event."""

    person_id: str
    wrapped_key: bytes
    event: PersonRegistered


def new_person(
    registration: Registration,
    guardian_person_id: str | None,
    vault: Vault,
    hash_key: str,
    person_id: str | None = None,
) -> NewPerson:
    """A key for the person (and an id, unless given), and their personal data sealed into
    the event."""
    person_id = person_id or str(new_event_id())
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


def registered(
    people: Sequence[Planned], vault: Vault, hash_key: str, causation: Causation, store: EventStore
) -> tuple[list[tuple[str, bytes]], list[Envelope]]:
    """New persons' wrapped keys, and the events registering them."""
    keys: list[tuple[str, bytes]] = []
    envelopes: list[Envelope] = []
    for registration, person_id, guardian in people:
        person = new_person(registration, guardian, vault, hash_key, person_id)
        keys.append((person_id, person.wrapped_key))
        new = domain.PERSON.decide(domain.PERSON.initial, domain.RegisterPerson(person.event))
        stream = domain.PERSON.stream(person_id)
        envelopes += store.envelopes(stream, 0, person_id, new, causation)
    return keys, envelopes


@dataclass(frozen=True)
class SealJob:
    """A share of an import for a worker process: the persons, and what sealing needs."""

    people: list[Planned]
    vault: Vault
    hash_key: str
    causation: Causation
    #: The trace the import's events continue (made where the request is).
    trace: str | None


@dataclass(frozen=True)
class Sealed:
    """A share of an import's rows, ready to write: keys, events and outbox, registry."""

    keys: list[tuple[str, bytes]]
    rows: Rows
    persons: list[tuple[object, ...]]


def seal_rows(job: SealJob) -> Sealed:
    """Seal a share of an import into the rows to write (in a worker process)."""
    store = EventStore("identity")
    keys, envelopes = registered(job.people, job.vault, job.hash_key, job.causation, store)
    rows = store.rows([Write(envelopes, job.causation.who, [job.trace] * len(envelopes), None)])
    return Sealed(keys, rows, [person_row(e) for e in envelopes])
