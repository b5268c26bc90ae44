"""Event contracts: every event type, at every schema version, and how to read them back."""

from typing import Any, ClassVar, cast

from pydantic import Field

# Each contract module's events register themselves (base.REGISTRY) as they are imported.
from shared.contracts import access, activation, card, identity, notification
from shared.contracts.base import REGISTRY, SUCCESSORS, EventPayload
from shared.envelope import Envelope, schema_uri


def _on_behalf(v1: type[EventPayload]) -> type[EventPayload]:
    """Version 2 of an event a family holder can cause for a member: version 1's fields, and
    the holder. Version 1 goes on for what people do themselves (readers of it see those as
    before); version 2 only when a holder acted, so a reader that knows only version 1 skips
    just those, by the ``schema_version`` header."""
    namespace: dict[str, Any] = {
        "__module__": v1.__module__,
        "__doc__": f"{v1.__doc__} Version 2: a family holder acted for the person.",
        "__annotations__": {"schema_version": ClassVar[int], "acting_person_id": str},
        "schema_version": 2,
        "acting_person_id": Field(
            description="Opaque id of the family holder who acted for the person."
        ),
    }
    return cast(type[EventPayload], type(f"{v1.__name__}V2", (v1,), namespace))


#: Events a family holder can cause for a member, and their version 2 naming the holder.
ON_BEHALF: dict[type[EventPayload], type[EventPayload]] = {
    v1: _on_behalf(v1)
    for v1 in (
        card.CardApplied,
        card.CardReportedLost,
        card.CardReplaced,
        card.ECardSuspended,
        card.ECardMoved,
        card.ECardClaimed,
        card.ChannelBound,
        activation.CardActivated,
        activation.MedicalAccountEnabled,
        activation.MedicalAccountMoved,
        activation.ActivationRefused,
    )
}


def acted_for(payload: EventPayload, acting_person_id: str) -> EventPayload:
    """The payload as a family holder's act for the person (version 2), where it has one."""
    v2 = ON_BEHALF.get(type(payload))
    if v2 is None:
        return payload
    return v2.model_validate({**payload.model_dump(), "acting_person_id": acting_person_id})


#: Every event class, in the order they were declared (contract modules in import order).
ALL_EVENTS: tuple[type[EventPayload], ...] = tuple(REGISTRY.values())
# access, activation, card, identity, notification: imported for their registrations.
_MODULES = (access, activation, card, identity, notification)


class UnknownEventError(ValueError):
    """An envelope names an event type or schema version this code does not know."""


def parse_payload(envelope: Envelope) -> EventPayload:
    """The typed payload of an envelope, a superseded version read as the one that replaced
    it (upcast); raises UnknownEventError or ValidationError."""
    model = REGISTRY.get((envelope.event_type, envelope.schema_version))
    if model is None:
        raise UnknownEventError(f"{envelope.event_type} v{envelope.schema_version}")
    payload = model.model_validate(envelope.payload)
    while (newer := SUCCESSORS.get(type(payload))) is not None:
        payload = newer.from_superseded(payload)
    return payload


def superseded_shape(envelope: Envelope) -> Envelope | None:
    """The same event in the shape of the version its own supersedes (published beside it for
    integrators who read that one), or None when its version supersedes none."""
    model = REGISTRY.get((envelope.event_type, envelope.schema_version))
    if model is None or model.supersedes is None:
        return None
    old = model.model_validate(envelope.payload).to_superseded()
    return envelope.model_copy(
        update={"schema_version": old.schema_version, "payload": old.to_payload()}
    )


JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every event payload, keyed ``<EventType>.v<version>``: open (a reader
    passes over fields it does not know), named by its ``$id``."""
    return {
        f"{e.event_type}.v{e.schema_version}": {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": schema_uri(e.event_type, e.schema_version),
            **e.model_json_schema(),
        }
        for e in ALL_EVENTS
    }


__all__ = [
    "ALL_EVENTS",
    "ON_BEHALF",
    "REGISTRY",
    "EventPayload",
    "UnknownEventError",
    "acted_for",
    "json_schemas",
    "parse_payload",
    "superseded_shape",
]
