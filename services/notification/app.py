"""create_app(settings): the notification service's process."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.notification import store
from services.notification.api import router, status_of
from services.notification.channels import configured_channels, gateway_session
from services.notification.consumers import feed
from services.notification.dispatcher import Dispatcher
from services.notification.settings import NotificationSettings
from shared.app import service_app
from shared.eventstore import EventStore
from shared.rebuild import Projection
from shared.runtime import ServiceRuntime


def create_app(settings: NotificationSettings) -> FastAPI:
    """The notification service: decides what each citizen is told, and delivers it."""

    def dispatcher(runtime: ServiceRuntime) -> Dispatcher:
        client = gateway_session(settings.send_timeout_s)
        return Dispatcher(
            runtime.pool,
            runtime.store,
            configured_channels(settings, client),
            settings,
            runtime.producer,
            client=client,
        )

    return service_app(
        service="notification",
        settings=settings,
        description="Tells citizens what happened to their card, once per event and channel, "
        "over SMS, email and app push.",
        routers=[router],
        status_of=status_of,
        migrations=[Path(__file__).parent / "migrations"],
        feed=feed(EventStore("notification"), settings),
        make_handlers=dispatcher,
        holders={"notification": store.person_of_message},
        background=Dispatcher.run,
    )


def projection() -> Projection:
    """What ``shebao rebuild notification`` drops and replays."""
    return store.projection(feed(EventStore("notification"), NotificationSettings()))
