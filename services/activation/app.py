"""create_app(settings): the activation service's process."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.activation import store
from services.activation.api import router, status_of
from services.activation.consumers import feed
from services.activation.handlers import ActivationHandlers
from services.activation.settings import ActivationSettings
from shared import verified
from shared.app import service_app
from shared.envelope import utc_now
from shared.rebuild import Projection
from shared.runtime import ServiceRuntime


def create_app(settings: ActivationSettings) -> FastAPI:
    """The activation service: activation by every channel."""

    def handlers(runtime: ServiceRuntime) -> ActivationHandlers:
        return ActivationHandlers(
            pool=runtime.pool,
            events=runtime.store,
            max_verification_age=timedelta(seconds=settings.max_verification_age_s),
            clock=utc_now,
        )

    return service_app(
        service="activation",
        settings=settings,
        description="Activation (启用) of social security cards by every channel.",
        routers=[router],
        status_of=status_of,
        migrations=[verified.MIGRATIONS, Path(__file__).parent / "migrations"],
        make_handlers=handlers,
        feed=feed(),
    )


def projection() -> Projection:
    """What ``shebao rebuild activation`` drops and replays."""
    return store.projection(feed())
