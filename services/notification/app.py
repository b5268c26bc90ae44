"""create_app(settings): the notification service's process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI

from services.notification import store
from services.notification.api import router, status_of
from services.notification.channels import configured_channels, gateway_session
from services.notification.consumers import feed
from services.notification.dispatcher import Dispatcher
from services.notification.handlers import NotificationHandlers
from services.notification.settings import NotificationSettings
from shared.app import service_app
from shared.eventstore import EventStore
from shared.rebuild import Projection
from shared.runtime import ServiceRuntime


@dataclass(frozen=True)
class Notification:
    """The service's handlers: commands from the edge, and the dispatcher that delivers."""

    handlers: NotificationHandlers
    dispatcher: Dispatcher


def create_app(settings: NotificationSettings) -> FastAPI:
    """The notification service: decides what each citizen is told, and delivers it."""

    def handlers(runtime: ServiceRuntime) -> Notification:
        client = gateway_session(settings.send_timeout_s)
        return Notification(
            NotificationHandlers(runtime.pool, runtime.store, settings),
            Dispatcher(
                runtime.pool,
                runtime.store,
                configured_channels(settings, client),
                settings,
                runtime.producer,
                client=client,
            ),
        )

    async def deliver(parts: Notification) -> None:
        await parts.dispatcher.run()

    return service_app(
        service="notification",
        settings=settings,
        description="Tells citizens what happened to their card, once per event and channel, "
        "over SMS, email and app push.",
        routers=[router],
        status_of=status_of,
        migrations=[Path(__file__).parent / "migrations"],
        feed=feed(EventStore("notification"), settings),
        make_handlers=handlers,
        holders={"notification": store.person_of_message},
        background=deliver,
    )


def projection() -> Projection:
    """What ``shebao rebuild notification`` drops and replays."""
    return store.projection(feed(EventStore("notification"), NotificationSettings()))
