"""The activation service's subscribers: identity.events and card.events."""

from __future__ import annotations

from services.activation import store
from shared import facts, verified
from shared.consumer import ForeignFeed
from shared.contracts import EventPayload
from shared.contracts.card import (
    STATUS_AFTER,
    CardReplaced,
    CardReportedLost,
    CardUnblocked,
    ChannelBound,
    ChannelUnlinked,
    ECardClaimed,
    ECardMoved,
    ECardResumed,
    ECardSuspended,
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
from shared.topics import CONSUMED_TOPICS

#: CardReplaced is handled on its own (it also records the replacement).
CARD_STATUS = {k: v for k, v in STATUS_AFTER.items() if k != "CardReplaced"}
OTHER_CARD_EVENTS = {
    "CardReportedLost",
    "CardUnblocked",
    "CardReplaced",
    "ECardClaimed",
    "ECardMoved",
    "ECardResumed",
    "ECardSuspended",
    "ChannelBound",
    "ChannelUnlinked",
}
FAMILY_EVENTS = {"FamilyMemberLinked", "FamilyMemberUnlinked"}
FACTS_EVENTS = {PersonFactsIssued.event_type, PersonalDataErased.event_type}


async def apply_foreign_event(conn: Connection, envelope: Envelope, payload: EventPayload) -> None:
    """Learn who is verified and where each card is."""
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
        case _ if payload.event_type in CARD_STATUS:
            status = CARD_STATUS[payload.event_type]
            card_id = envelope.payload["card_id"]
            region = envelope.payload.get("region")
            await store.record_card_status(conn, card_id, envelope.person_id, status, region)
        case FamilyMemberLinked() | FamilyMemberUnlinked():
            linked = isinstance(payload, FamilyMemberLinked)
            await store.set_family_link(conn, envelope.person_id, payload.member_person_id, linked)
        case ECardClaimed():
            await store.record_ecard(conn, envelope.person_id, payload.card_id, payload.region)
        case ECardResumed():
            await store.record_ecard(conn, envelope.person_id, payload.card_id, None)
        case ChannelBound() | ChannelUnlinked():
            bound = isinstance(payload, ChannelBound)
            await store.bind_channel(conn, envelope.person_id, payload.channel, bound)
        case ECardMoved():
            # Its channel bindings stayed with the card it left; the claim that follows binds.
            await store.unbind_channels(conn, envelope.person_id)
        case ECardSuspended():
            await store.suspend_ecard(conn, envelope.person_id, payload.reason)
        case CardReplaced():
            await store.record_replacement(conn, payload.card_id, payload.new_card_id)
            await store.record_card_status(conn, payload.card_id, envelope.person_id, "replaced")
        case CardReportedLost():
            await store.record_loss(conn, payload.card_id, payload.kind)
        case CardUnblocked():
            await store.record_loss(conn, payload.card_id, None)


def feed() -> ForeignFeed:
    """The activation group's feed: identity.events and card.events."""
    return ForeignFeed(
        group="activation",
        topics=CONSUMED_TOPICS["activation"],
        handles={
            IdentityVerified.event_type,
            *CARD_STATUS,
            *OTHER_CARD_EVENTS,
            *FAMILY_EVENTS,
            *FACTS_EVENTS,
        },
        apply=apply_foreign_event,
    )
