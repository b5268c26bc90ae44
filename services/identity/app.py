"""create_app(settings): the identity service's process."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.identity import store
from services.identity.api import router, status_of
from services.identity.facecheck import load_public_keys
from services.identity.handlers import IdentityHandlers
from services.identity.settings import IdentitySettings
from shared.app import service_app
from shared.envelope import utc_now
from shared.rebuild import Projection
from shared.runtime import ServiceRuntime


def create_app(settings: IdentitySettings) -> FastAPI:
    """The identity service: real-name and real-person verification."""

    def handlers(runtime: ServiceRuntime) -> IdentityHandlers:
        return IdentityHandlers(
            pool=runtime.pool,
            events=runtime.store,
            hash_key=settings.hash_key,
            face_keys=load_public_keys(settings.face_providers),
            face_max_age=timedelta(seconds=settings.face_max_age_s),
            face_min_score=settings.face_min_score,
            clock=utc_now,
        )

    return service_app(
        service="identity",
        settings=settings,
        description="Real-name and real-person verification of citizens (实名 + 实人).",
        routers=[router],
        status_of=status_of,
        migrations=[Path(__file__).parent / "migrations"],
        make_handlers=handlers,
    )


def projection() -> Projection:
    """What ``shebao rebuild identity`` drops and replays."""
    return store.PROJECTION
