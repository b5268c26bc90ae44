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
import functools
import json
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import structlog
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter

from services.notification import domain, store
from services.notification.channels import Channel, DeliveryError, Outgoing
from services.notification.errors import NotificationNotFoundError
from services.notification.settings import NotificationSettings
from shared.aggregate import decide_and_append, retry_on_conflict
from shared.consumer import DEAD_LETTER_REASON_HEADER
from shared.contracts.notification import NotificationChannel
from shared.envelope import new_event_id
from shared.eventstore import Causation, EventStore
from shared.privacy import UnreadableError, decrypt_field
from shared.topics import dead_letter_topic

log = structlog.get_logger(__name__)

DELIVERIES = Counter(
    "shebao_notification_deliveries_total",
    "Delivery attempts by channel and outcome.",
    ["channel", "outcome"],
)
NOTIFICATION_ID_HEADER = "notification_id"
SUBJECTS = {"zh-Hans": "社会保障卡服务通知", "en": "Social security card notice"}


class SimulatedCrashError(BaseException):
    """Test hook: the process 'dies' after the gateway accepted, before the record."""


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Delay before the attempt after ``attempt``: doubling, capped, half of it jittered so
    that messages failing together do not retry together."""
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    return float(ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - not a secret


@dataclass
class Dispatcher:
    """Delivers scheduled messages until cancelled."""

    pool: asyncpg.Pool
    events: EventStore
    channels: Mapping[NotificationChannel, Channel]
    settings: NotificationSettings
    dead_letters: AIOKafkaProducer
    #: Called after a gateway accepted and before the outcome is recorded (tests, faults).
    after_send: Callable[[store.Claimed], None] | None = None
    idle_poll_s: float = 1.0
    #: Closed when the dispatcher stops (the HTTP channels' connection pool).
    client: httpx.AsyncClient | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        """Dispatch due messages, waking on NOTIFY or every ``idle_poll_s``."""
        async with self.pool.acquire() as listener:
            await listener.add_listener("notification_due", self._on_notify)
            try:
                while True:
                    try:
                        busy = await self.dispatch_due()
                        busy += await self.publish_dead_letters()
                    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                        log.warning("dispatch_paused", error=type(exc).__name__)
                        busy = 0
                    if busy == 0:
                        self._wake.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._wake.wait(), self.idle_poll_s)
            finally:
                with contextlib.suppress(Exception):
                    await listener.remove_listener("notification_due", self._on_notify)
                if self.client is not None:
                    await self.client.aclose()

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def dispatch_due(self) -> int:
        """One round: claim due messages and deliver them concurrently; how many."""
        async with self.pool.acquire() as conn:
            claimed = await store.claim_due(
                conn, self.settings.dispatch_batch, self.settings.lease_s
            )
        # A person's messages go in the order they were decided (one after the other, so the
        # channels of one message do not race to record on its stream); people's at once.
        lanes: dict[str, list[store.Claimed]] = {}
        for claim in sorted(claimed, key=lambda c: c.seq):
            lanes.setdefault(claim.person_id, []).append(claim)
        outcomes = await asyncio.gather(
            *(self._deliver_in_order(lane) for lane in lanes.values()), return_exceptions=True
        )
        for person_id, outcome in zip(lanes, outcomes, strict=True):
            if isinstance(outcome, SimulatedCrashError | asyncio.CancelledError):
                raise outcome
            if isinstance(outcome, BaseException):
                # Left claimed: resumed when its lease runs out, like after a crash.
                log.error("delivery_error", person_id=person_id, error=type(outcome).__name__)
        return len(claimed)

    async def _deliver_in_order(self, lane: list[store.Claimed]) -> None:
        for claimed in lane:
            await self._deliver(claimed)

    async def _deliver(self, claimed: store.Claimed) -> None:
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
        try:
            if channel is None:
                raise DeliveryError("CHANNEL_NOT_CONFIGURED", transient=False)
            to = await self._address(claimed)
            ref: str | None = await channel.send(
                Outgoing(
                    claimed.notification_id,
                    to,
                    SUBJECTS.get(claimed.language, SUBJECTS["zh-Hans"]),
                    claimed.body,
                    claimed.language,
                )
            )
        except DeliveryError as exc:
            await self._record_failure(claimed, exc, duplicate_risk)
            return
        if self.after_send is not None:
            self.after_send(claimed)
        if self.settings.fault_crash_after_send:
            log.warning("fault_crash_after_send", notification_id=claimed.notification_id)
            os._exit(70)
        await self._record(claimed, domain.RecordSent(claimed.notification_id), ref, duplicate_risk)
        DELIVERIES.labels(claimed.channel, "sent").inc()
        log.info(
            "notification_sent",
            notification_id=claimed.notification_id,
            channel=claimed.channel,
            attempt=claimed.attempts,
        )

    async def _address(self, claimed: store.Claimed) -> str:
        """Where the message goes: the person's app, or their sealed phone or address."""
        if claimed.channel == "app_push":
            return claimed.person_id
        async with self.pool.acquire() as conn:
            row = await store.contact_of(conn, claimed.person_id)
        field_name = "phone" if claimed.channel == "sms" else "email"
        sealed = None if row is None else row[f"{field_name}_ciphertext"]
        if sealed is None:
            raise DeliveryError("NO_CONTACT", transient=False)
        try:
            return decrypt_field(
                self.settings.contact_key_bytes(), claimed.person_id, field_name, sealed
            )
        except UnreadableError:
            raise DeliveryError("CONTACT_UNREADABLE", transient=False) from None

    async def _record_failure(
        self, claimed: store.Claimed, exc: DeliveryError, duplicate_risk: bool
    ) -> None:
        last = not exc.transient or claimed.attempts >= self.settings.max_attempts
        DELIVERIES.labels(claimed.channel, "failed" if last else "retry").inc()
        if not last:
            delay = backoff_s(
                claimed.attempts, self.settings.backoff_base_s, self.settings.backoff_max_s
            )
            async with self.pool.acquire() as conn, conn.transaction():
                await store.mark_retry(
                    conn, claimed.notification_id, delay, exc.reason, duplicate_risk
                )
                await store.record_attempt(
                    conn, claimed, "transient_error", exc.reason, None, duplicate_risk
                )
            log.info(
                "delivery_retry_scheduled",
                notification_id=claimed.notification_id,
                channel=claimed.channel,
                attempt=claimed.attempts,
                reason=exc.reason,
                delay_s=round(delay, 3),
            )
            return
        reason = exc.reason if not exc.transient else f"RETRIES_EXHAUSTED {exc.reason}"
        command = domain.RecordFailed(claimed.notification_id, claimed.attempts, reason)
        await self._record(claimed, command, None, duplicate_risk)
        log.warning(
            "notification_failed",
            notification_id=claimed.notification_id,
            channel=claimed.channel,
            attempts=claimed.attempts,
            reason=reason,
        )
        await self.publish_dead_letters()

    async def _record(
        self,
        claimed: store.Claimed,
        command: domain.RecordSent | domain.RecordFailed,
        ref: str | None,
        duplicate_risk: bool,
    ) -> None:
        """The outcome, the event and the log row in one transaction (retried on conflict:
        the deliveries of one event on several channels share a stream)."""
        causation = Causation(
            correlation_id=str(claimed.about_event_id),
            causation_id=claimed.notification_id,
            actor="notification-dispatcher",
        )

        async def attempt() -> None:
            async with self.pool.acquire() as conn, conn.transaction():
                await decide_and_append(
                    conn,
                    self.events,
                    stream_id=domain.notification_stream(claimed.about_event_id),
                    person_id=claimed.person_id,
                    initial=domain.Notification(),
                    evolve=domain.evolve,
                    decide=functools.partial(_decide_outcome, command=command),
                    causation=causation,
                )
                if isinstance(command, domain.RecordSent):
                    await store.mark_sent(conn, claimed.notification_id, ref, duplicate_risk)
                    outcome, detail = "sent", None
                else:
                    await store.mark_failed(
                        conn, claimed.notification_id, command.reason, duplicate_risk
                    )
                    outcome, detail = "failed", command.reason
                await store.record_attempt(conn, claimed, outcome, detail, ref, duplicate_risk)

        await retry_on_conflict(attempt)

    async def publish_dead_letters(self) -> int:
        """Publish the dead letter owed for each failed message (again after a crash: the
        operator's retry is idempotent)."""
        async with self.pool.acquire() as conn:
            owed = await store.owed_dead_letters(conn)
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
                await store.dead_letter_published(conn, row["notification_id"])
        return len(owed)


def _decide_outcome(
    state: domain.Notification, command: domain.RecordSent | domain.RecordFailed
) -> list[Any]:
    try:
        return domain.decide_outcome(state, command)
    except NotificationNotFoundError:
        return []  # logged before this code recorded events: the log row is the record
