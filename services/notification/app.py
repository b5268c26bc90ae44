"""create_app(settings): the notification service's process."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import get_args

from fastapi import FastAPI
from prometheus_client import Gauge

from services.notification import store
from services.notification.api import router, status_of
from services.notification.channels import configured_channels, gateway_session
from services.notification.consumers import feed
from services.notification.dispatcher import Dispatcher
from services.notification.handlers import NotificationHandlers
from services.notification.settings import NotificationSettings
from shared.app import service_app
from shared.contracts.notification import NotificationChannel
from shared.db import Connection
from shared.eventstore import EventStore
from shared.rebuild import Projection
from shared.runtime import ServiceRuntime

QUEUE = Gauge("shebao_notification_queue", "Messages waiting to be sent, by channel", ["channel"])
for _channel in get_args(NotificationChannel):
    QUEUE.labels(_channel).set(0)


async def queue(conn: Connection) -> None:
    """Sample the queue of messages to send (shared.observe)."""
    waiting = await store.queue_depth(conn)
    for channel in get_args(NotificationChannel):
        QUEUE.labels(channel).set(waiting.get(channel, 0))


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
        probes=[queue],
    )


def projection() -> Projection:
    """What ``shebao rebuild notification`` drops and replays."""
    return store.projection(feed(EventStore("notification"), NotificationSettings()))
