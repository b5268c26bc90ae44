"""create_app(settings): the notification service's process."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.notification import store
from services.notification.api import router, status_of
from services.notification.consumers import feed
from services.notification.settings import NotificationSettings
from shared.app import service_app
from shared.eventstore import EventStore
from shared.rebuild import Projection


def create_app(settings: NotificationSettings) -> FastAPI:
    """The notification service: one message per event a citizen must know of."""

    return service_app(
        service="notification",
        settings=settings,
        description="Tells citizens what happened to their card, once per event.",
        routers=[router],
        status_of=status_of,
        migrations=[Path(__file__).parent / "migrations"],
        feed=feed(EventStore("notification"), settings.default_language),
    )


def projection() -> Projection:
    """What ``shebao rebuild notification`` drops and replays."""
    settings = NotificationSettings()
    return store.projection(feed(EventStore("notification"), settings.default_language))
