"""create_app(settings): the card service's process."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.card import store
from services.card.api import router, status_of
from services.card.consumers import feed
from services.card.handlers import CardHandlers
from services.card.settings import CardSettings
from shared import verified
from shared.app import service_app
from shared.rebuild import Projection
from shared.runtime import ServiceRuntime


def create_app(settings: CardSettings) -> FastAPI:
    """The card service: applications, production and delivery of physical cards."""

    def handlers(runtime: ServiceRuntime) -> CardHandlers:
        return CardHandlers(pool=runtime.pool, events=runtime.store)

    return service_app(
        service="card",
        settings=settings,
        description="The physical social security card's life: apply, produce, mail.",
        routers=[router],
        status_of=status_of,
        migrations=[verified.MIGRATIONS, Path(__file__).parent / "migrations"],
        make_handlers=handlers,
        feed=feed(),
    )


def projection() -> Projection:
    """What ``shebao rebuild card`` drops and replays."""
    return store.projection(feed())
