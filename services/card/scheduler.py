"""Time-driven transitions: a lapsed temporary loss report, an uncollected card sealed.

Due timers are locked (SKIP LOCKED, so several schedulers share the work), decided and marked
fired in one transaction: each fires once, even across restarts; the decider ignores a timer
whose card has moved on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from services.card import commands, store
from services.card.handlers import CardHandlers
from shared.db import DATABASE_FAULTS
from shared.eventstore import Causation

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Scheduler:
    """Fires due card timers with an injectable clock."""

    handlers: CardHandlers
    clock: Callable[[], datetime]
    interval_s: float = 1.0
    batch: int = 100

    async def run(self) -> None:
        """Fire due timers until cancelled."""
        while True:
            try:
                fired = await self.fire_due()
            except DATABASE_FAULTS as exc:
                log.warning("timers_retrying", error=type(exc).__name__)
                fired = 0
            if fired < self.batch:
                await asyncio.sleep(self.interval_s)

    async def fire_due(self) -> int:
        """Decide every timer due now; return how many fired."""
        now = self.clock()
        async with self.handlers.pool.acquire() as conn, conn.transaction():
            timers = await store.due_timers(conn, now, self.batch)
            for timer in timers:
                command: commands.Command
                if timer["kind"] == "lapse_loss":
                    command = commands.LapseLossReport(timer["card_id"], now)
                else:
                    command = commands.SealCard(
                        timer["card_id"], timer["since"], now, timer["activated"]
                    )
                cause = f"timer-{timer['kind']}-{timer['card_id']}"
                await self.handlers.run(
                    conn,
                    timer["person_id"],
                    timer["stream_id"],
                    command,
                    Causation(cause, cause, actor="scheduler", channel="timer"),
                )
                await store.mark_fired(conn, timer, now)
        if timers:
            log.info("timers_fired", count=len(timers))
        return len(timers)
