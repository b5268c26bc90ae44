"""The notification service's commands from the edge: a person's choices, an operator's retry.
Each runs in its own transaction and answers with what is now shown."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.notification import deliveries, domain, store, views
from services.notification.errors import NotificationNotFoundError
from services.notification.settings import NotificationSettings
from shared.aggregate import run
from shared.contracts.notification import Language, NotificationChannel
from shared.eventstore import Causation, EventStore
from shared.privacy import encrypt_field, mask_email, mask_phone


@dataclass(frozen=True)
class NotificationHandlers:
    """A person's choices and an operator's retry."""

    pool: asyncpg.Pool
    events: EventStore
    settings: NotificationSettings

    async def choose_preferences(
        self,
        person_id: str,
        *,
        channels: list[NotificationChannel],
        language: Language,
        optional_messages: bool,
        phone: str | None,
        email: str | None,
        causation: Causation,
    ) -> views.PreferencesView:
        """Record a person's choice (NotificationPreferencesChanged, masked contacts only) and
        keep the contacts sealed. The choice as now shown."""
        async with self.pool.acquire() as conn, conn.transaction():
            current = await store.preferences_view(conn, person_id)
            kept_phone = None if current is None else current["masked_phone"]
            kept_email = None if current is None else current["masked_email"]
            command = domain.ChoosePreferences(
                tuple(channels),
                language,
                optional_messages,
                mask_phone(phone) if phone else kept_phone,
                mask_email(email) if email else kept_email,
            )
            choices = domain.PREFERENCES.at(person_id, person=person_id)
            envelopes = await run(conn, self.events, choices, command, causation)
            if phone or email:
                key = self.settings.contact_key_bytes()
                await store.save_contact(
                    conn,
                    person_id,
                    encrypt_field(key, person_id, "phone", phone) if phone else None,
                    encrypt_field(key, person_id, "email", email) if email else None,
                )
            for envelope in envelopes:
                await store.apply_own(conn, envelope)
            return await views.preferences(conn, person_id, self.settings.default_language)

    async def retry_failed(
        self, nid: str, operator: str, causation: Causation
    ) -> views.MessageDetail:
        """An operator's retry of a failed message: NotificationRetried, then delivery again
        from the first attempt. Refused (NotFailedError) unless it failed, so replaying the
        same dead letter twice delivers once. The message as it now stands."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.message(conn, nid)
            if row is None:
                raise NotificationNotFoundError
            told = domain.NOTIFICATION.at(row["about_event_id"], person=row["person_id"])
            await run(conn, self.events, told, domain.Retry(nid, operator), causation)
            await deliveries.reschedule(conn, nid)
            return await views.message(conn, nid)
