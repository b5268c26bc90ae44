"""create_app(settings): the identity service's process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from services.identity import store
from services.identity.api import router, status_of
from services.identity.consumers import feed
from services.identity.facecheck import load_public_keys
from services.identity.family.api import router as family_router
from services.identity.family.handlers import FamilyHandlers
from services.identity.handlers import IdentityHandlers
from services.identity.registration.api import MAX_IMPORT_BYTES
from services.identity.registration.api import router as registration_router
from services.identity.registration.handlers import RegistrationHandlers
from services.identity.sessions import Sessions
from services.identity.settings import IdentitySettings
from services.identity.vault import Vault
from shared.app import service_app
from shared.envelope import utc_now
from shared.eventstore import EventStore
from shared.rebuild import Projection
from shared.runtime import ServiceRuntime

MIGRATIONS = [Path(__file__).parent / "migrations"]


@dataclass(frozen=True)
class Identity:
    """The identity service's use cases."""

    verifier: IdentityHandlers
    registrar: RegistrationHandlers
    family: FamilyHandlers
    sessions: Sessions


def build_identity(settings: IdentitySettings, pool: asyncpg.Pool, events: EventStore) -> Identity:
    """Wire the use cases to their ports (also used by ``shebao import persons``)."""
    vault = Vault(settings.master_key_bytes())
    verifier = IdentityHandlers(
        pool=pool,
        events=events,
        vault=vault,
        hash_key=settings.hash_key,
        face_keys=load_public_keys(settings.face_providers),
        face_max_age=timedelta(seconds=settings.face_max_age_s),
        face_min_score=settings.face_min_score,
        lock_policy=settings.lock_policy,
        clock=utc_now,
        facts=settings.facts(),
    )
    registrar = RegistrationHandlers(pool, events, vault, settings.hash_key, utc_now)
    family = FamilyHandlers(
        pool, events, verifier, settings.hash_key, settings.family_limit_for, utc_now
    )
    sessions = Sessions(
        settings.token_keys(), timedelta(seconds=settings.citizen_token_ttl_s), utc_now
    )
    return Identity(verifier, registrar, family, sessions)


def create_app(settings: IdentitySettings) -> FastAPI:
    """The identity service: real-name and real-person verification."""

    def handlers(runtime: ServiceRuntime) -> Identity:
        return build_identity(settings, runtime.pool, runtime.store)

    return service_app(
        service="identity",
        settings=settings,
        description="Real-name and real-person verification of citizens (实名 + 实人).",
        routers=[router, registration_router, family_router],
        status_of=status_of,
        migrations=MIGRATIONS,
        make_handlers=handlers,
        feed=feed(),
        large_bodies={"/v1/registry/imports": MAX_IMPORT_BYTES},
    )


def projection() -> Projection:
    """What ``shebao rebuild identity`` drops and replays."""
    return store.projection(feed())
