"""The same command workload on the ``eventsourcing`` library (PyPI) with PostgreSQL: the
baseline our event store is to beat by 5x.

A command loads its aggregate, triggers 1-3 events and saves them in one transaction with the
library's optimistic version check and its notification log (the library's outbox), from 16
threads (the library is synchronous), three commands per aggregate as in ``bench.spine``.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

NAMESPACE = uuid.UUID("0b7a3d52-2f5e-4c1b-9d0e-5a1c3e7f9b21")


class Card(Aggregate):
    """A card whose commands record 1 to 3 events."""

    @event("Mailed")
    def __init__(self, card_id: str, tracking_number: str) -> None:
        self.card_id = card_id
        self.tracking_number = tracking_number
        self.produced = 0

    @staticmethod
    def create_id(card_id: str) -> uuid.UUID:
        return uuid.uuid5(NAMESPACE, card_id)

    @event("Remailed")
    def remail(self, tracking_number: str) -> None:
        self.tracking_number = tracking_number

    @event("Produced")
    def produce(self, card_number: str) -> None:
        self.produced += 1


class Cards(Application[uuid.UUID]):
    """The application: a repository of cards."""


def environment(database_url: str, schema: str, pool_size: int) -> dict[str, str]:
    """The library's settings for our PostgreSQL."""
    url = urlparse(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/") or "postgres",
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
        "CREATE_TABLE": "y",
    }


def commands_per_second(database_url: str, commands: int, concurrency: int) -> float:
    """commands/s of the library on the workload."""
    schema = f"bench_es_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")  # the library expects it
    app = Cards(env=environment(database_url, schema, concurrency))

    def command(i: int) -> None:
        card_id = f"card-{i % concurrency}-{i // (3 * concurrency)}"
        extra = i % 3
        if (i // concurrency) % 3 == 0:
            card = Card(card_id, f"EMS{i:010d}")
        else:
            card = app.repository.get(Card.create_id(card_id))
            card.remail(f"EMS{i:010d}")
        for k in range(extra):
            card.produce(f"S{i:09d}{k}")
        app.save(card)

    def worker(w: int) -> None:
        for i in range(w, commands, concurrency):
            command(i)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(worker, w) for w in range(concurrency)]:
            future.result()
    elapsed = time.perf_counter() - started
    app.close()
    return commands / elapsed
