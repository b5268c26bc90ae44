"""create_app(settings): the activation service's process."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.activation import store
from services.activation.api import router, status_of
from services.activation.consumers import feed
from services.activation.handlers import ActivationHandlers
from services.activation.password.api import router as password_router
from services.activation.password.handlers import (
    PasswordHandlers,
    hashing_threads,
    password_hasher,
)
from services.activation.password.sms_codes import SmsCodes
from services.activation.payment.api import router as payment_code_router
from services.activation.payment.codes import PaymentCodes
from services.activation.settings import ActivationSettings
from shared import verified
from shared.app import service_app
from shared.envelope import utc_now
from shared.rebuild import Projection
from shared.runtime import ServiceRuntime


@dataclass(frozen=True)
class Activation:
    """The activation service's use cases."""

    activator: ActivationHandlers
    passwords: PasswordHandlers
    codes: PaymentCodes


def create_app(settings: ActivationSettings) -> FastAPI:
    """The activation service: activation by every channel."""

    def handlers(runtime: ServiceRuntime) -> Activation:
        max_age = timedelta(seconds=settings.max_verification_age_s)
        passwords = PasswordHandlers(
            pool=runtime.pool,
            events=runtime.store,
            hasher=password_hasher(),
            hashing=hashing_threads(),
            initial_password=settings.initial_password_for,
            lock_rule=settings.lock_rule_for,
            max_verification_age=max_age,
            clock=utc_now,
            facts=settings.facts(),
            sms=SmsCodes(runtime.pool, runtime.store, settings.messages(), utc_now),
        )
        return Activation(
            activator=ActivationHandlers(
                runtime.pool,
                runtime.store,
                max_age,
                utc_now,
                passwords.allowed_hash,
                settings.ecard_processing_delay,
            ),
            passwords=passwords,
            codes=PaymentCodes(
                settings.code_keys(), timedelta(seconds=settings.payment_code_ttl_s)
            ),
        )

    return service_app(
        service="activation",
        settings=settings,
        description="Activation (启用) of social security cards by every channel.",
        routers=[router, password_router, payment_code_router],
        status_of=status_of,
        migrations=[verified.MIGRATIONS, Path(__file__).parent / "migrations"],
        make_handlers=handlers,
        holders={"card": store.holder_of},
        family_link=store.may_act_for,
        feed=feed(),
    )


def projection() -> Projection:
    """What ``shebao rebuild activation`` drops and replays."""
    return store.projection(feed())
