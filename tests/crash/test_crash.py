"""Crash between the database commit and the offset commit: no second notification."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from deploy.demo.citizens import face_check_for, fake_citizen
from deploy.paths import free_port
from deploy.stack import Infrastructure, ServiceProcess, service_process
from shared.topics import NOTIFICATION_EVENTS
from tests.e2e.harness import (
    endpoints,
    envelope_of,
    read_records,
    register,
    running_services,
    wait_for,
)

# Its own services, in a package of its own: no other notification consumer may share the
# group while it runs (the e2e package's services are only up during that package).
CRASH = {"notification": {"NOTIFICATION_FAULT_CRASH_AFTER_COMMIT": "true"}}


@pytest.fixture(scope="module")
def services(
    infra: Infrastructure, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    with running_services(infra, tmp_path_factory.mktemp("crash-logs"), CRASH) as procs:
        yield procs


async def _mail_a_card(services: dict[str, ServiceProcess]) -> tuple[str, str]:
    """Verify, apply, produce and mail; return the person id and card id."""
    urls = endpoints(services)
    citizen = fake_citizen(random.Random(99))
    await register(urls.identity, citizen)
    async with httpx.AsyncClient(timeout=30) as client:
        verified = await client.post(
            f"{urls.identity}/v1/verifications",
            headers={"X-Api-Key": "dev-online-hall"},
            json={
                "name": citizen.name,
                "id_number": citizen.id_number,
                "face_check": face_check_for(citizen).model_dump(mode="json"),
            },
        )
        person_id = verified.json()["person_id"]
        signed_in = f"Bearer {verified.json()['citizen_token']}"

        async def apply() -> httpx.Response:
            return await client.post(
                f"{urls.card}/v1/applications",
                headers={"X-Api-Key": "dev-online-hall", "Authorization": signed_in},
                json={"person_id": person_id, "region": citizen.region, "photo_ref": "photo-1"},
            )

        applied = await apply()
        for _ in range(100):
            if applied.status_code == 201:
                break
            await asyncio.sleep(0.1)
            applied = await apply()
        card_id = applied.json()["card_id"]
        produced = await client.post(
            f"{urls.card}/v1/cards/{card_id}/production",
            headers={"X-Api-Key": "dev-printing-agency"},
            json={"card_number": "S123456789", "chip_serial": "A1B2C3D4E5F60708"},
        )
        assert produced.status_code == 201, produced.text
        mailed = await client.post(
            f"{urls.card}/v1/cards/{card_id}/mailing",
            headers={"X-Api-Key": "dev-courier"},
            json={"courier": "EMS", "tracking_number": "EMS1234567890"},
        )
        assert mailed.status_code == 201, mailed.text
    return person_id, card_id


async def test_crash_after_commit_sends_no_second_notification(
    infra: Infrastructure, services: dict[str, ServiceProcess]
) -> None:
    notifier = services["notification"]
    person_id, _ = await _mail_a_card(services)

    # The notifier applies CardMailed, commits, and dies before committing the offset.
    assert await wait_for(
        lambda: notifier.process is not None and notifier.process.poll() is not None
    )
    assert notifier.process is not None
    assert notifier.process.returncode == 70

    # Restarted as before (same channels), without the fault.
    channels = {
        k: v
        for k, v in notifier.env.items()
        if k.startswith("NOTIFICATION_")
        and k not in CRASH["notification"]
        and k != "NOTIFICATION_PORT"
    }
    restarted = service_process(
        "notification", infra, notifier.log_path.parent, port=free_port(), extra_env=channels
    )
    restarted.log_path = notifier.log_path.with_name("notification-restarted.log")
    restarted.start()
    services["notification"] = restarted  # stopped by the fixture
    restarted.wait_ready(90)

    records = await read_records(
        infra.bootstrap_servers,
        [NOTIFICATION_EVENTS],
        keep=lambda r: (
            (r.key or b"").decode() == person_id and envelope_of(r).event_type == "NotificationSent"
        ),
        done=lambda kept: len(kept) >= 2,
        settle_s=3.0,
    )
    # The notifier died on the first event it applied; each event is told of exactly once
    # all the same, on the person's one channel (the app, by default), in the order decided.
    told = [
        (envelope_of(r).payload["channel"], envelope_of(r).payload["about_event_type"])
        for r in records
    ]
    assert told == [("app_push", "CardApplied"), ("app_push", "CardMailed")]
    redelivered = await wait_for(
        lambda: "duplicate_skipped" in restarted.log_path.read_text(), timeout_s=30
    )
    assert redelivered, "Kafka must have redelivered the event the notifier had applied"

    conn = await asyncpg.connect(infra.database_url)
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM notification.messages WHERE person_id = $1", person_id
        )
    finally:
        await conn.close()
    assert count == 2
