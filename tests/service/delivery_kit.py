"""What the delivery tests share: a real sink (HTTP + SMTP) on loopback, a fresh notification
schema, the notifier behind a real inbox, and a dispatcher with fast retries."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from deploy.demo.sink import SinkClient
from deploy.paths import free_port
from deploy.stack import Infrastructure, ServiceProcess, sink_process
from services.notification.channels import configured_channels, gateway_session
from services.notification.consumers import feed
from services.notification.deliveries import Claimed
from services.notification.dispatcher import Dispatcher
from services.notification.handlers import NotificationHandlers
from services.notification.settings import NotificationSettings
from shared.consumer import InboxConsumer
from shared.contracts import EventPayload, parse_payload
from shared.contracts.identity import PersonRegistered
from shared.db import SHARED_MIGRATIONS, create_pool, migrate
from shared.envelope import Envelope
from shared.eventstore import Causation, EventStore
from shared.kafka import ensure_topics
from tests.unit.test_identity_decider import REGISTERED

MIGRATIONS = Path(__file__).parents[2] / "services" / "notification" / "migrations"
CAUSE = Causation("test", "test", actor="tester", channel="citizen_app")
PHONE = "13912345678"
EMAIL = "wang.fang@example.com"


def registered(tail: str = "002X") -> PersonRegistered:
    """A registration whose masked ID number ends in ``tail``."""
    return REGISTERED.model_copy(update={"masked_id_number": f"1101**********{tail}"})


@dataclass
class RunningSink:
    """The sink process, its client, and the settings that deliver to it."""

    process: ServiceProcess
    env: dict[str, str]
    client: SinkClient


@pytest.fixture(scope="package")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSink]:
    process, env = sink_process(
        tmp_path_factory.mktemp("sink"), port=free_port(), smtp_port=free_port()
    )
    process.start()
    try:
        process.wait_ready(30)
        yield RunningSink(process, env, SinkClient(process.url))
    finally:
        process.stop()


@dataclass
class Delivery:
    """A notification schema with its notifier, and dispatchers made on demand."""

    infra: Infrastructure
    pool: asyncpg.Pool
    sink: RunningSink
    producer: AIOKafkaProducer
    schema: str

    def settings(self, **overrides: Any) -> NotificationSettings:
        values: dict[str, Any] = {
            "sms_url": self.sink.env["NOTIFICATION_SMS_URL"],
            "push_url": self.sink.env["NOTIFICATION_PUSH_URL"],
            "smtp_host": "127.0.0.1",
            "smtp_port": int(self.sink.env["NOTIFICATION_SMTP_PORT"]),
            "backoff_base_s": 0.01,
            "backoff_max_s": 0.02,
            "max_attempts": 3,
            "database_url": self.infra.database_url,
            **overrides,
        }
        return NotificationSettings(**values)

    async def tell(self, about: EventPayload, person_id: str, producer: str = "card") -> Envelope:
        """Consume one foreign event the way the live consumer does (inbox + state change)."""
        store = EventStore(producer)  # type: ignore[arg-type]
        [envelope] = store.envelopes(f"s-{secrets.token_hex(4)}", 0, person_id, [about], CAUSE)
        await self.redeliver(envelope)
        return envelope

    async def redeliver(self, envelope: Envelope, **settings: Any) -> None:
        notifier = feed(EventStore("notification"), self.settings(**settings))
        consumer = InboxConsumer.for_feed(notifier, self.pool, self.producer)
        await consumer.apply_once(envelope, parse_payload(envelope))

    async def choose(self, person_id: str, channels: list[str], **kw: Any) -> None:
        handlers = NotificationHandlers(self.pool, EventStore("notification"), self.settings())
        await handlers.choose_preferences(
            person_id,
            channels=channels,  # type: ignore[arg-type]
            language=kw.get("language", "zh-Hans"),
            optional_messages=kw.get("optional_messages", True),
            phone=kw.get("phone", PHONE),
            email=kw.get("email", EMAIL),
            causation=CAUSE,
        )

    def dispatcher(
        self, after_send: Callable[[Claimed], None] | None = None, **settings: Any
    ) -> Dispatcher:
        config = self.settings(**settings)
        client = gateway_session(config.send_timeout_s)
        return Dispatcher(
            self.pool,
            EventStore("notification"),
            configured_channels(config, client),
            config,
            self.producer,
            after_send=after_send,
            client=client,
        )

    async def drain(self, dispatcher: Dispatcher, rounds: int = 40) -> None:
        """Dispatch until nothing is scheduled (retries included), bounded."""
        for _ in range(rounds):
            await dispatcher.dispatch_due()
            left = await self.pool.fetchval(
                "SELECT count(*) FROM messages WHERE status = 'scheduled'"
            )
            if left == 0:
                return
            await asyncio.sleep(0.03)
        raise AssertionError("messages still scheduled after draining")

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT envelope FROM events WHERE event_type = $1 ORDER BY position", event_type
        )
        return [Envelope.model_validate_json(r["envelope"]).payload for r in rows]

    async def rows(self, person_id: str) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT * FROM messages WHERE person_id = $1 ORDER BY channel", person_id
        )


@pytest.fixture
async def delivery(infra: Infrastructure, sink: RunningSink) -> AsyncIterator[Delivery]:
    schema = f"notify_{secrets.token_hex(4)}"
    pool = await create_pool(infra.database_url, schema)
    await migrate(pool, SHARED_MIGRATIONS, MIGRATIONS)
    await ensure_topics(infra.bootstrap_servers, partitions=6, replication_factor=1)
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
    await producer.start()
    sink.client.reset()
    try:
        yield Delivery(infra, pool, sink, producer, schema)
    finally:
        await producer.stop()
        await pool.execute(f"DROP SCHEMA {schema} CASCADE")
        await pool.close()
