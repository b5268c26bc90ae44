"""The card service's subscriber: identity.events (who is verified, family links) and
activation.events (which cards are active)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.card import commands, domain, store
from shared import facts, verified
from shared.aggregate import run
from shared.consumer import ForeignFeed
from shared.contracts import EventPayload
from shared.contracts.activation import (
    CardActivated,
    PasswordLocked,
    PasswordReset,
    PasswordUnlocked,
)
from shared.contracts.identity import (
    FamilyMemberLinked,
    FamilyMemberUnlinked,
    IdentityVerified,
    PersonalDataErased,
    PersonFactsIssued,
)
from shared.db import Connection
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore
from shared.topics import CONSUMED_TOPICS

HANDLED = {
    IdentityVerified.event_type,
    PersonFactsIssued.event_type,
    PersonalDataErased.event_type,
    FamilyMemberLinked.event_type,
    FamilyMemberUnlinked.event_type,
    CardActivated.event_type,
    PasswordLocked.event_type,
    PasswordUnlocked.event_type,
    PasswordReset.event_type,
}


@dataclass(frozen=True)
class ForeignEvents:
    """Learn who is verified, who may act for whom, which cards are active or locked."""

    seal_after: timedelta

    async def __call__(self, conn: Connection, envelope: Envelope, payload: EventPayload) -> None:
        await apply_foreign_event(conn, envelope, payload, self.seal_after)


async def apply_foreign_event(
    conn: Connection, envelope: Envelope, payload: EventPayload, seal_after: timedelta
) -> None:
    """Learn who is verified, who may act for whom, which cards are active or locked."""
    match payload:
        case IdentityVerified():
            await verified.record_verification(
                conn, envelope.person_id, payload.level, payload.verified_at
            )
        case PersonFactsIssued():
            await facts.record_facts(conn, envelope.person_id, payload)
        case PersonalDataErased():
            await facts.forget_facts(conn, envelope.person_id)
            await verified.forget(conn, envelope.person_id)
        case FamilyMemberLinked():
            await store.link_family(conn, envelope.person_id, payload.member_person_id)
        case FamilyMemberUnlinked():
            await store.unlink_family(conn, envelope.person_id, payload.member_person_id)
        case CardActivated():
            await store.mark_activated(conn, payload.card_id)
        case PasswordLocked() | PasswordUnlocked() | PasswordReset() if (
            payload.card_kind == "physical"
        ):
            # The e-card's personal services stop while the physical card is locked.
            locked = isinstance(payload, PasswordLocked)
            command = commands.PasswordLockChanged(payload.card_id, locked)
            await _on_card(conn, envelope, payload.card_id, command, seal_after)


async def _on_card(
    conn: Connection,
    envelope: Envelope,
    card_id: str,
    command: commands.Command,
    seal_after: timedelta,
) -> None:
    card = await store.find_card(conn, card_id)
    if card is None:
        return  # not a card of ours
    holder = domain.HOLDER.in_stream(card["stream_id"], person=card["person_id"])
    events = await run(conn, EventStore("card"), holder, command, Causation.of_event(envelope))
    await store.project(conn, events, seal_after)


def feed(seal_after: timedelta) -> ForeignFeed:
    """The card group's feed: identity.events and activation.events."""
    return ForeignFeed(
        group="card",
        topics=CONSUMED_TOPICS["card"],
        handles=HANDLED,
        apply=ForeignEvents(seal_after),
    )
