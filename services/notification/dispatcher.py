"""Delivering what was scheduled: claim due messages, send on their channel, record the
outcome once.

A claim is committed before the send, so a process that dies between the gateway's answer and
the record leaves a claim nobody recorded; once its lease runs out the message is sent again
under the same idempotency key. Where the channel honours the key nothing reaches the citizen
twice; where it does not (SMTP) the resend is logged as a possible duplicate, at most one per
interruption.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from opentelemetry.trace import SpanKind, StatusCode

from services.notification import deliveries, domain, store
from services.notification.channels import Channel, DeliveryError, Outgoing
from services.notification.errors import NotificationNotFoundError
from services.notification.outcomes import Outcome, backoff_s, report
from services.notification.settings import NotificationSettings
from services.notification.templates import CODE_PLACEHOLDER
from shared import tracing
from shared.aggregate import retry_on_conflict
from shared.batching import WriteBehind
from shared.consumer import NOTIFICATION_ID_HEADER
from shared.contracts import parse_payload
from shared.contracts.notification import NotificationChannel
from shared.db import DATABASE_FAULTS
from shared.envelope import Envelope, new_event_id, utc_now
from shared.eventstore import Actor, Causation, EventStore
from shared.facts import FactsKeys
from shared.faults import Faults
from shared.privacy import UnreadableError, decrypt_field
from shared.redrive import DEAD_LETTER_REASON_HEADER
from shared.topics import dead_letter_topic

log = structlog.get_logger(__name__)

SUBJECTS = {"zh-Hans": "社会保障卡服务通知", "en": "Social security card notice"}


class SimulatedCrashError(BaseException):
    """Test hook: the process 'dies' after the gateway accepted, before the record."""


@dataclass
class Dispatcher:
    """Delivers scheduled messages until cancelled."""

    pool: asyncpg.Pool
    events: EventStore
    channels: Mapping[NotificationChannel, Channel]
    settings: NotificationSettings
    dead_letters: AIOKafkaProducer
    #: Called after a gateway accepted and before the outcome is recorded (tests, faults).
    after_send: Callable[[deliveries.Claimed], None] | None = None
    idle_poll_s: float = 1.0
    #: Closed when the dispatcher stops (the HTTP channels' connection pool).
    client: aiohttp.ClientSession | None = None
    _publishing: asyncio.Lock = field(default_factory=asyncio.Lock)

    @functools.cached_property
    def faults(self) -> Faults:
        """The crash points armed (crash tests only)."""
        return self.settings.faults()

    @functools.cached_property
    def messages(self) -> FactsKeys:
        """The keys one-time codes are sealed under."""
        return self.settings.messages()

    async def run(self) -> None:
        """Dispatch due messages with ``dispatch_workers`` rounds at once, each waking on
        NOTIFY or every ``idle_poll_s``."""
        wakes = [asyncio.Event() for _ in range(self.settings.dispatch_workers)]

        def on_notify(*_: Any) -> None:
            for wake in wakes:
                wake.set()

        async with self.pool.acquire() as listener:
            await listener.add_listener("notification_due", on_notify)
            try:
                await asyncio.gather(*(self._work(n, wake) for n, wake in enumerate(wakes)))
            finally:
                with contextlib.suppress(Exception):
                    await listener.remove_listener("notification_due", on_notify)
                if self.client is not None:
                    await self.client.close()

    async def _work(self, n: int, wake: asyncio.Event) -> None:
        while True:
            wake.clear()  # before looking: a wake-up during the round is not lost
            try:
                busy = await self.dispatch_due()
                if n == 0:  # left over after a crash: one worker looks
                    busy += await self.publish_dead_letters()
            except DATABASE_FAULTS as exc:
                log.warning("dispatch_paused", error=type(exc).__name__)
                busy = 0
            if busy == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self.idle_poll_s)

    async def dispatch_due(self) -> int:
        """One round: claim due messages, send them (a person's messages on a channel in the
        order they were decided; everything else at once), then record every outcome in one
        transaction. How many were claimed."""
        async with self.pool.acquire() as conn:
            claimed = await deliveries.claim_due(
                conn, self.settings.dispatch_batch, self.settings.lease_s
            )
            if not claimed:
                return 0
            contacts = await store.contacts_of(
                conn, sorted({c.person_id for c in claimed if c.channel != "app_push"})
            )
            codes = await store.sealed_codes_of(
                conn, [c.about_event_id for c in claimed if CODE_PLACEHOLDER in c.body]
            )
        lanes: dict[tuple[str, str], list[deliveries.Claimed]] = {}
        for claim in sorted(claimed, key=lambda c: c.seq):
            lanes.setdefault((claim.person_id, claim.channel), []).append(claim)
        sent = await asyncio.gather(
            *(self._send_lane(lane, contacts, codes) for lane in lanes.values()),
            return_exceptions=True,
        )
        outcomes: list[Outcome] = []
        for lane, result in zip(lanes.values(), sent, strict=True):
            if isinstance(result, SimulatedCrashError | asyncio.CancelledError):
                raise result
            if isinstance(result, BaseException):
                # Left claimed: resumed when its lease runs out, like after a crash.
                log.error("delivery_error", lane=lane[0].channel, error=type(result).__name__)
                continue
            outcomes += result
        outcomes.sort(key=lambda o: o.claimed.seq)
        await retry_on_conflict(lambda: self._record(outcomes))
        report(outcomes)
        if any(o.failed for o in outcomes):
            await self.publish_dead_letters()
        return len(claimed)

    async def _send_lane(
        self,
        lane: list[deliveries.Claimed],
        contacts: dict[str, asyncpg.Record],
        codes: dict[str, asyncpg.Record],
    ) -> list[Outcome]:
        return [await self._send(claimed, contacts, codes) for claimed in lane]

    async def _send(
        self,
        claimed: deliveries.Claimed,
        contacts: dict[str, asyncpg.Record],
        codes: dict[str, asyncpg.Record],
    ) -> Outcome:
        """Hand one message to its channel; what came of it (not yet recorded)."""
        channel = self.channels.get(claimed.channel)  # type: ignore[call-overload]
        # A resend after an unrecorded claim may duplicate where the gateway cannot dedupe.
        duplicate_risk = claimed.resumed and not (channel is not None and channel.idempotent)
        if claimed.resumed:
            log.warning(
                "delivery_resumed",
                notification_id=claimed.notification_id,
                channel=claimed.channel,
                possible_duplicate=duplicate_risk,
            )
        # The send continues the trace of the event the message tells of.
        with tracing.span(
            f"send {claimed.channel}",
            SpanKind.CLIENT,
            tracing.parent_of({tracing.TRACEPARENT: claimed.trace_context or ""}),
            {"shebao.notification_id": claimed.notification_id, "shebao.attempt": claimed.attempts},
        ) as span:
            trace = tracing.of_span(span)
            try:
                if channel is None:
                    raise DeliveryError("CHANNEL_NOT_CONFIGURED", transient=False)
                to = self._address(claimed, contacts.get(claimed.person_id))
                ref = await channel.send(
                    Outgoing(
                        claimed.notification_id,
                        to,
                        SUBJECTS.get(claimed.language, SUBJECTS["zh-Hans"]),
                        self._text(claimed, codes.get(claimed.about_event_id)),
                        claimed.language,
                    )
                )
            except DeliveryError as exc:
                span.set_status(StatusCode.ERROR, exc.reason)
                return dataclasses.replace(
                    self._failure(claimed, exc, duplicate_risk), trace_context=trace
                )
        if self.after_send is not None:
            self.after_send(claimed)
        self.faults.crash_here("after_send", notification_id=claimed.notification_id)
        return Outcome(claimed, duplicate_risk, ref=ref, trace_context=trace)

    def _text(self, claimed: deliveries.Claimed, code: asyncpg.Record | None) -> str:
        """The text to send: a one-time code is opened and filled in only now."""
        if CODE_PLACEHOLDER not in claimed.body:
            return claimed.body
        if code is None or utc_now() >= code["expires_at"]:
            raise DeliveryError("CODE_EXPIRED", transient=False)
        try:
            clear = self.messages.open(
                code["key_id"],
                claimed.person_id,
                f"sms_code:{code['code_id']}",
                code["sealed_code"],
            )
        except (UnreadableError, KeyError):
            raise DeliveryError("CODE_UNREADABLE", transient=False) from None
        return claimed.body.replace(CODE_PLACEHOLDER, clear)

    def _address(self, claimed: deliveries.Claimed, contact: asyncpg.Record | None) -> str:
        """Where the message goes: the person's app, or their sealed phone or address."""
        if claimed.channel == "app_push":
            return claimed.person_id
        field_name = "phone" if claimed.channel == "sms" else "email"
        sealed = None if contact is None else contact[f"{field_name}_ciphertext"]
        if sealed is None:
            raise DeliveryError("NO_CONTACT", transient=False)
        try:
            return decrypt_field(
                self.settings.contact_key_bytes(), claimed.person_id, field_name, sealed
            )
        except UnreadableError:
            raise DeliveryError("CONTACT_UNREADABLE", transient=False) from None

    def _failure(
        self, claimed: deliveries.Claimed, exc: DeliveryError, duplicate_risk: bool
    ) -> Outcome:
        if exc.transient and claimed.attempts < self.settings.max_attempts:
            delay = backoff_s(
                claimed.attempts, self.settings.backoff_base_s, self.settings.backoff_max_s
            )
            return Outcome(claimed, duplicate_risk, error=exc.reason, retry_in_s=delay)
        reason = exc.reason if not exc.transient else f"RETRIES_EXHAUSTED {exc.reason}"
        return Outcome(claimed, duplicate_risk, error=reason)

    async def _record(self, outcomes: list[Outcome]) -> None:
        """Every outcome of a round in one transaction: NotificationSent / NotificationFailed
        on each message's stream, the log rows and the attempts (writes sent behind)."""
        async with self.pool.acquire() as conn, conn.transaction():
            streams = await self.events.load_many(
                conn, [domain.notification_stream(o.claimed.about_event_id) for o in outcomes]
            )
            states = {
                stream: (domain.NOTIFICATION.fold(parse_payload(e) for e in history), len(history))
                for stream, history in streams.items()
            }
            behind = WriteBehind(conn)
            writes = behind.as_connection()
            appended: list[Envelope] = []
            for o in outcomes:
                c = o.claimed
                if o.retry_in_s is not None:
                    await deliveries.mark_retry(
                        writes, c.notification_id, o.retry_in_s, o.error or "", o.duplicate_risk
                    )
                    await deliveries.record_attempt(
                        writes, c, "transient_error", o.error, None, o.duplicate_risk
                    )
                    continue
                stream = domain.notification_stream(c.about_event_id)
                state, version = states.get(stream, (domain.Notification(), 0))
                command: domain.RecordSent | domain.RecordFailed = (
                    domain.RecordFailed(c.notification_id, c.attempts, o.error)
                    if o.failed and o.error is not None
                    else domain.RecordSent(c.notification_id)
                )
                new = _decide_outcome(state, command)
                cause = Causation(c.about_event_id, c.notification_id, "notification-dispatcher")
                appended += self.events.envelopes(stream, version, c.person_id, new, cause)
                states[stream] = (domain.NOTIFICATION.fold(new, state), version + len(new))
                if isinstance(command, domain.RecordSent):
                    await deliveries.mark_sent(writes, c.notification_id, o.ref, o.duplicate_risk)
                    await deliveries.record_attempt(
                        writes, c, "sent", None, o.ref, o.duplicate_risk
                    )
                else:
                    await deliveries.mark_failed(
                        writes, c.notification_id, command.reason, o.duplicate_risk
                    )
                    await deliveries.record_attempt(
                        writes, c, "failed", command.reason, None, o.duplicate_risk
                    )
            await behind.flush()
            with tracing.causes({o.claimed.notification_id: o.trace_context for o in outcomes}):
                await self.events.append(conn, appended, Actor("notification-dispatcher"))

    async def publish_dead_letters(self) -> int:
        """Publish the dead letter owed for each failed message (again after a crash: the
        operator's retry is idempotent)."""
        async with self._publishing, self.pool.acquire() as conn:
            owed = await deliveries.owed_dead_letters(conn)
            for row in owed:
                value = json.dumps(
                    {
                        "notification_id": row["notification_id"],
                        "about_event_id": row["about_event_id"],
                        "about_event_type": row["about_event_type"],
                        "channel": row["channel"],
                        "attempts": row["attempts"],
                        "reason": row["last_error"],
                        "dead_letter_id": str(new_event_id()),
                    }
                ).encode()
                await self.dead_letters.send_and_wait(
                    dead_letter_topic("notification"),
                    value=value,
                    key=row["person_id"].encode(),
                    headers=[
                        (
                            DEAD_LETTER_REASON_HEADER,
                            f"NOTIFICATION_FAILED {row['last_error']}".encode(),
                        ),
                        (NOTIFICATION_ID_HEADER, row["notification_id"].encode()),
                    ],
                )
                await deliveries.dead_letter_published(conn, row["notification_id"])
        return len(owed)


def _decide_outcome(
    state: domain.Notification, command: domain.RecordSent | domain.RecordFailed
) -> list[Any]:
    try:
        return domain.decide_outcome(state, command)
    except NotificationNotFoundError:
        return []  # logged before this code recorded events: the log row is the record
