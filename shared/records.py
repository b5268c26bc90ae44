"""Reading a record against the event contract: its envelope and typed payload, or the reason
it breaks the contract (a dead letter's reason names what broke, never the values)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from pydantic import ValidationError

from shared.contracts import EventPayload, UnknownEventError, parse_payload
from shared.envelope import EVENT_TYPE_HEADER, Envelope


class PoisonMessageError(Exception):
    """A record that can never be applied; it goes to the dead-letter topic with a reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def contract_reason(exc: Exception, prefix: str = "") -> str:
    """A dead-letter reason naming what broke the contract, never the values themselves."""
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            return "UNPARSEABLE not JSON"
        parts = [f"{prefix}{'.'.join(map(str, e['loc'])) or '<root>'}:{e['type']}" for e in errors]
        return "CONTRACT_VIOLATION " + ", ".join(parts[:10])
    if isinstance(exc, UnknownEventError):
        return f"UNKNOWN_EVENT {exc}"
    return f"UNPARSEABLE {type(exc).__name__}"


def read_record(
    value: bytes | None, headers: Sequence[tuple[str, bytes]] | None, handles: Collection[str]
) -> tuple[Envelope, EventPayload] | None:
    """The envelope and typed payload of a record; None when it is not an event we handle;
    PoisonMessageError (with the reason) when it breaks the contract."""
    # Only the event type header decides anything here: another header that is not UTF-8 (a
    # broken traceparent, say) does not make the event unreadable.
    raw_type = next((v for k, v in headers or () if k == EVENT_TYPE_HEADER), None)
    try:
        event_type = None if raw_type is None else raw_type.decode()
    except UnicodeDecodeError:
        raise PoisonMessageError("CONTRACT_VIOLATION headers.event_type:not_utf8") from None
    if event_type is not None and event_type not in handles:
        return None  # not ours: skipped without parsing, as the contract allows
    try:
        envelope = Envelope.from_bytes(value or b"")
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise PoisonMessageError(contract_reason(exc)) from exc
    if envelope.event_type not in handles:
        return None
    try:
        return envelope, parse_payload(envelope)
    except ValueError as exc:
        raise PoisonMessageError(contract_reason(exc, prefix="payload.")) from exc
