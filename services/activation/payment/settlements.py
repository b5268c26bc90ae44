"""Every settlement and e-card payment is recorded, authorised or refused (where, by which
channel, the amount as a band), on a stream of its own per card and kind, so that the
holder's history shows each one (Social Insurance Law art. 4: the right to inquire)."""

from __future__ import annotations

from services.activation import store
from services.activation.errors import (
    ActivationError,
    ChannelNotBoundError,
    PaymentCodeExpiredError,
    PaymentCodeInvalidError,
    PaymentCodeUsedError,
)
from services.activation.payment.domain import Settlement, settlement_stream
from shared.contracts import EventPayload
from shared.contracts.activation import CardKind, SettlementAuthorized, SettlementRefused
from shared.db import Connection, take_turn
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore


def outcome(
    card_id: str, kind: CardKind, settlement: Settlement, refused: ActivationError | None
) -> EventPayload:
    """The event that records how the settlement ended."""
    where = {
        "card_id": card_id,
        "card_kind": kind,
        "channel": settlement.channel,
        "facility_id": settlement.facility_id,
        "amount_band": settlement.amount_band,
        "payment_code_id": settlement.payment_code_id,
    }
    if refused is None:
        return SettlementAuthorized.model_validate(where)
    return SettlementRefused.model_validate({**where, "reason": refused.code})


async def one_at_a_time(conn: Connection, kind: CardKind, key: str) -> None:
    """Wait for any other settlement of this card (or e-card) to commit first."""
    await take_turn(conn, f"settlement:{kind}:{key}")


async def record(
    conn: Connection,
    events: EventStore,
    key: str,
    person_id: str,
    event: EventPayload,
    causation: Causation,
) -> list[Envelope]:
    """Append ``event`` to the card's settlement stream, inside the caller's transaction: the
    stream is only appended to, so its version is all that is read (a concurrent settlement
    would be a conflict, retried by the caller; ``one_at_a_time`` avoids it)."""
    stream_id = settlement_stream(key)
    version = await events.version_of(conn, stream_id)
    envelopes = events.envelopes(stream_id, version, person_id, [event], causation)
    await events.append(conn, envelopes, causation.who)
    return envelopes


async def code_refusal(
    conn: Connection, settlement: Settlement, person_id: str, card_id: str
) -> ActivationError | None:
    """Why the settlement's payment code may not pay, before its password is checked: past
    its minute, issued for another card than the e-card's now, or shown by a channel the
    holder has unlinked since."""
    if settlement.payment_code_id is None:
        return None
    if settlement.code_expired:
        return PaymentCodeExpiredError()
    if settlement.code_card_id != card_id:
        return PaymentCodeInvalidError()  # the e-card moved to another card since
    if not await store.channel_bound(conn, person_id, settlement.code_channel or ""):
        return ChannelNotBoundError()
    return None


async def use_code(conn: Connection, settlement: Settlement) -> ActivationError | None:
    """Redeem the settlement's payment code: once."""
    if settlement.payment_code_id is None:
        return None
    redeemed = await conn.fetchval(
        "INSERT INTO redeemed_payment_codes (code_id) VALUES ($1)"
        " ON CONFLICT DO NOTHING RETURNING code_id",
        settlement.payment_code_id,
    )
    return None if redeemed is not None else PaymentCodeUsedError()
