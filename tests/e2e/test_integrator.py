"""The example integrator (deploy/integrators/bank.py), end to end: a bank keeps its own view
of its customers' cards from the public events alone, and its effects happen once however
often the events are delivered."""

from __future__ import annotations

import json
import secrets
import uuid

import asyncpg
from aiokafka import AIOKafkaProducer

from deploy.demo.journeys import run_demo
from deploy.integrators import bank
from deploy.stack import Infrastructure, ServiceProcess
from tests.e2e.harness import endpoints


async def test_a_bank_keeps_its_view_of_cards_with_each_effect_once(
    services: dict[str, ServiceProcess], infra: Infrastructure
) -> None:
    journeys = await run_demo(endpoints(services), 2, seed=20261205)
    assert [j.failure for j in journeys] == [None, None]
    people = [j.person_id for j in journeys]
    schema = f"bank_{secrets.token_hex(4)}"
    # A record no reader can parse, among the ones it handles: set aside, nothing stops.
    producer = AIOKafkaProducer(bootstrap_servers=infra.bootstrap_servers)
    await producer.start()
    try:
        for value in (
            b"{not json",
            # An envelope whose payload lacks what the bank reads, and an event id no UUID.
            json.dumps({"event_id": "x", "event_type": "CardMailed", "payload": {}}).encode(),
            json.dumps({"event_id": str(uuid.uuid4()), "payload": {"courier": "EMS"}}).encode(),
        ):
            await producer.send_and_wait(
                "card.events",
                value,
                key=b"someone",
                headers=[("event_type", b"CardMailed"), ("schema_version", b"1")],
            )
    finally:
        await producer.stop()

    def run(group: str) -> object:
        return bank.run(
            infra.bootstrap_servers,
            infra.database_url,
            group=f"integrator.test.{group}",
            schema=schema,
            until_idle_s=3,
        )

    first = await run(secrets.token_hex(4))  # type: ignore[misc]
    assert first > 0
    conn = await asyncpg.connect(infra.database_url)
    try:
        cards = await conn.fetch(
            f"SELECT * FROM {schema}.cards WHERE person_id = ANY($1::text[])",  # noqa: S608
            people,
        )
        assert {c["person_id"] for c in cards} == set(people)
        activated = [c for c in cards if c["activated"]]
        assert {c["person_id"] for c in activated} == set(people)
        assert all(c["medical_account"] and c["status"] == "in_hand" for c in activated)

        async def letters() -> list[str]:
            rows = await conn.fetch(
                f"SELECT card_id FROM {schema}.letters WHERE person_id = ANY($1::text[])",  # noqa: S608
                people,
            )
            return sorted(r["card_id"] for r in rows)

        written = await letters()
        assert written == sorted(c["card_id"] for c in activated)
        rejected = await conn.fetchval(f"SELECT count(*) FROM {schema}.rejected")  # noqa: S608
        assert rejected >= 3  # each set aside; everything after them was applied

        # Everything delivered again (a new group reads from offset 0): nothing happens twice.
        again = await run(secrets.token_hex(4))  # type: ignore[misc]
        assert again == 0
        assert await letters() == written
    finally:
        await conn.close()
