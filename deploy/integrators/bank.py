"""An example integrator: a bank that keeps its own view of its customers' social security
cards from the platform's public events, with exactly-once effects.

It uses only what any integrator has: aiokafka, asyncpg and the published contract (topics,
headers, envelope). It reads ``card.events`` and ``activation.events`` from the first offset,
skips event types it does not handle by the ``event_type`` header without parsing them,
passes over fields it does not know, and for each record, in one database transaction,
records the event id in its inbox and changes its tables; it commits the Kafka offset only
after that transaction. A record delivered twice (a crash before the offset commit, a replay
from offset 0) changes nothing: the welcome letter for an activated card is written once.

    python -m deploy.integrators.bank --bootstrap 127.0.0.1:9092 \\
        --database-url postgresql://postgres@127.0.0.1:55432/postgres

On a secured cluster it reads as its own user over TLS, the password from the environment:

    KAFKA_SASL_PASSWORD=... python -m deploy.integrators.bank --bootstrap localhost:9094 \\
        --username integrator-demo --ca-file ca.pem --group integrator.demo.bank ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import ssl
import sys
import time
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

TOPICS = ("card.events", "activation.events")
#: A group of the bank's own (never one of the platform's: identity, card, ...).
GROUP = "integrator.demo-bank.cards"
#: What each event the bank handles makes of the card.
STATUS = {
    "CardApplied": "applied",
    "CardProduced": "produced",
    "CardMailed": "mailed",
    "CardReadyForPickup": "ready_for_pickup",
    "CardDelivered": "in_hand",
    "CardCollected": "in_hand",
    "CardReportedLost": "lost",
    "CardUnblocked": "in_hand",
    "CardCancelled": "cancelled",
}
HANDLED = {*STATUS, "CardActivated", "MedicalAccountEnabled"}
#: The versions this code was written for: 2 is 1 and the family holder who acted.
KNOWN = {"1", "2"}

TABLES = """
CREATE TABLE IF NOT EXISTS inbox (event_id uuid PRIMARY KEY);
CREATE TABLE IF NOT EXISTS cards (
    card_id text PRIMARY KEY, person_id text NOT NULL, status text NOT NULL,
    activated boolean NOT NULL DEFAULT false, medical_account boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS letters (
    person_id text NOT NULL, card_id text NOT NULL, written_at timestamptz DEFAULT now());
CREATE TABLE IF NOT EXISTS rejected (
    topic text, partition int, "offset" bigint, reason text,
    PRIMARY KEY (topic, partition, "offset"));
"""


async def apply(conn: asyncpg.Connection, event: dict[str, Any]) -> None:
    """Change the bank's tables for one event (inside the caller's transaction)."""
    payload, kind = event["payload"], event["event_type"]
    card, at = payload["card_id"], event["occurred_at"]
    if kind in STATUS:
        await conn.execute(
            "INSERT INTO cards (card_id, person_id, status, updated_at)"
            " VALUES ($1, $2, $3, $4::text::timestamptz) ON CONFLICT (card_id) DO UPDATE"
            " SET status = excluded.status, updated_at = excluded.updated_at",
            card,
            event["person_id"],
            STATUS[kind],
            at,
        )
    elif kind == "CardActivated" and payload.get("card_kind", "physical") == "physical":
        await _flag(conn, event, "activated")
        # The effect that must happen once: a letter to the customer.
        await conn.execute(
            "INSERT INTO letters (person_id, card_id) VALUES ($1, $2)", event["person_id"], card
        )
    elif kind == "MedicalAccountEnabled":
        await _flag(conn, event, "medical_account")


async def _flag(conn: asyncpg.Connection, event: dict[str, Any], flag: str) -> None:
    """Set a flag of the card. Kafka orders a person's events within a topic, not across
    topics: an activation may be read before the card's own events, so it may come first."""
    await conn.execute(
        f"INSERT INTO cards (card_id, person_id, status, {flag}, updated_at)"  # noqa: S608 - ours
        " VALUES ($1, $2, 'unknown', true, $3::text::timestamptz)"
        f" ON CONFLICT (card_id) DO UPDATE SET {flag} = true",
        event["payload"]["card_id"],
        event["person_id"],
        event["occurred_at"],
    )


async def handle(conn: asyncpg.Connection, record: ConsumerRecord[bytes, bytes]) -> bool:
    """One record, once: True when it changed something. A record it cannot read or apply
    is set aside (its table ``rejected``) and the next one goes on."""
    headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
    if headers.get("event_type") not in HANDLED or headers.get("schema_version") not in KNOWN:
        # Not ours, or a version we were not written for (a version that replaces one is
        # published beside the old shape, which comes next): skipped without parsing.
        return False
    try:
        event = json.loads(record.value or b"")
        async with conn.transaction():
            fresh = await conn.fetchval(
                "INSERT INTO inbox VALUES ($1::text::uuid) ON CONFLICT DO NOTHING RETURNING true",
                event["event_id"],
            )
            if fresh:
                await apply(conn, event)
    except (ValueError, KeyError, TypeError, AttributeError, asyncpg.DataError) as exc:
        # Rolled back, inbox row included: nothing of it took effect.
        await conn.execute(
            "INSERT INTO rejected VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            record.topic,
            record.partition,
            record.offset,
            type(exc).__name__,
        )
        return False
    return bool(fresh)


async def run(
    bootstrap: str,
    database_url: str,
    *,
    group: str = GROUP,
    schema: str = "bank",
    until_idle_s: float | None = None,
    security: dict[str, Any] | None = None,
) -> int:
    """Keep the bank's view until cancelled (or idle for ``until_idle_s``); events applied."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        raise ValueError("the schema is a lower-case SQL name")
    conn = await asyncpg.connect(database_url)
    # The bank's own schema (the name is checked above).
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}")
    await conn.execute(TABLES)
    consumer = AIOKafkaConsumer(
        *TOPICS,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",  # a new group starts from the first event
        enable_auto_commit=False,  # the offset moves only after our transaction
        isolation_level="read_committed",
        **(security or {}),
    )
    applied, idle_since = 0, time.monotonic()
    try:
        await consumer.start()  # a refused start is stopped below too (no unclosed client)
        while until_idle_s is None or time.monotonic() - idle_since < until_idle_s:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for tp, records in batches.items():
                for record in records:
                    applied += await handle(conn, record)
                await consumer.commit({tp: records[-1].offset + 1})
            if batches:
                idle_since = time.monotonic()
    finally:
        await consumer.stop()
        await conn.close()
    return applied


def main() -> None:
    """Run the example integrator."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:55432/postgres")
    parser.add_argument("--group", default=GROUP)
    parser.add_argument("--schema", default="bank")
    parser.add_argument("--until-idle", type=float, default=None, help="stop after S idle s")
    parser.add_argument("--username", help="SASL/SCRAM user (password: KAFKA_SASL_PASSWORD)")
    parser.add_argument("--ca-file", help="TLS: the CA that signed the brokers' certificate")
    args = parser.parse_args()
    security: dict[str, Any] = {}
    if args.username:
        security = {
            "security_protocol": "SASL_SSL" if args.ca_file else "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": args.username,
            "sasl_plain_password": os.environ.get("KAFKA_SASL_PASSWORD", ""),
        }
        if args.ca_file:
            security["ssl_context"] = ssl.create_default_context(cafile=args.ca_file)
    try:
        applied = asyncio.run(
            run(
                args.bootstrap,
                args.database_url,
                group=args.group,
                schema=args.schema,
                until_idle_s=args.until_idle,
                security=security,
            )
        )
    except KeyboardInterrupt:
        return
    except (KafkaError, OSError) as exc:
        # Refused (a group or topic not this user's, a wrong password), or nothing to reach.
        sys.exit(f"bank: {type(exc).__name__}: {exc}")
    print(json.dumps({"applied": applied}))


if __name__ == "__main__":
    main()
