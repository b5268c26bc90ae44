"""create_app(settings): the card service's process."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from prometheus_client import Gauge

from services.card import store
from services.card.api import router, status_of
from services.card.consumers import feed
from services.card.handlers import CardHandlers
from services.card.scheduler import Scheduler
from services.card.settings import CardSettings
from shared import verified
from shared.app import service_app
from shared.db import Connection
from shared.envelope import utc_now
from shared.rebuild import Projection
from shared.runtime import ServiceRuntime

TIMERS_DUE = Gauge(
    "shebao_card_timers_due", "Card timers due and not yet fired (the scheduler is behind)"
)


async def timers_due(conn: Connection) -> None:
    """Sample the due timers (shared.observe)."""
    TIMERS_DUE.set(await store.count_due_timers(conn, utc_now()))


def create_app(settings: CardSettings) -> FastAPI:
    """The card service: the physical card's life and the e-card bound to it."""

    def handlers(runtime: ServiceRuntime) -> CardHandlers:
        return CardHandlers(
            pool=runtime.pool, events=runtime.store, settings=settings, clock=utc_now
        )

    async def timers(handlers: CardHandlers) -> None:
        await Scheduler(handlers, utc_now, settings.timer_interval_s).run()

    return service_app(
        service="card",
        settings=settings,
        description="The physical social security card's life, and the e-card bound to it.",
        routers=[router],
        status_of=status_of,
        migrations=[verified.MIGRATIONS, Path(__file__).parent / "migrations"],
        make_handlers=handlers,
        holders={"card": store.holder_of},
        family_link=store.may_act_for,
        feed=feed(settings.seal_after),
        background=timers,
        probes=[timers_due],
    )


def projection() -> Projection:
    """What ``shebao rebuild card`` drops and replays."""
    seal_after = CardSettings().seal_after
    return store.projection(feed(seal_after), seal_after)
