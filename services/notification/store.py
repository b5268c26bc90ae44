"""The notification service's delivery log."""

from __future__ import annotations

import asyncpg

from services.notification.domain import NotifyCitizen
from shared.consumer import ForeignFeed
from shared.db import Connection
from shared.rebuild import Projection


async def log_message(conn: Connection, person_id: str, command: NotifyCitizen) -> None:
    """Record the message in the delivery log (once, however often it is called)."""
    await conn.execute(
        "INSERT INTO messages (notification_id, person_id, about_event_id, about_event_type,"
        " channel, template, language, body) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (notification_id) DO NOTHING",
        command.notification_id,
        person_id,
        command.about_event_id,
        command.about_event_type,
        command.channel,
        command.message.template,
        command.message.language,
        command.message.text,
    )


async def messages_of(conn: Connection, person_id: str) -> list[asyncpg.Record]:
    """A person's messages, oldest first."""
    return await conn.fetch(
        "SELECT notification_id, about_event_id::text, about_event_type, channel, template,"
        " language, body, created_at FROM messages WHERE person_id = $1 ORDER BY created_at",
        person_id,
    )


def projection(feed: ForeignFeed) -> Projection:
    """The notification service's derived state: the delivery log."""
    columns = ("notification_id", "person_id", "about_event_id", "about_event_type", "channel")
    return Projection(tables={"messages": (*columns, "template", "language", "body")}, foreign=feed)
