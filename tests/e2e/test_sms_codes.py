"""One-time SMS codes on the real stack: the platform sends the code (through the notification
service's SMS channel to the local gateway), checks it, and never keeps or shows it in clear.
Online recovery refuses without it; a code works once, for its person, within 5 tries."""

from __future__ import annotations

import httpx

from deploy.stack import ServiceProcess
from tests.e2e.harness import choose_sms, receive_sms_code
from tests.e2e.paying import Paying


async def test_online_recovery_needs_the_code_the_platform_sent(
    services: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=60) as client:
        holder = await Paying(client, services).ready(311)
        app = holder.api.headers("dev-citizen-app", holder.person_id)
        phone = holder.phone
        await choose_sms(client, services["notification"].url, holder.person_id, phone, app)
        recovery = f"{holder.url}/v1/cards/{holder.card_id}/password/recovery"

        async def recover(code: dict[str, str] | None, new: str = "246813") -> httpx.Response:
            body: dict[str, object] = {"person_id": holder.person_id, "new_password": new}
            if code is not None:
                body["sms_code"] = code
            return await client.post(recovery, headers=app, json=body)

        without = await recover(None)
        assert (without.status_code, without.json()["code"]) == (403, "SMS_CODE_REQUIRED")
        # At a window the ID card is the proof; a code is no substitute.
        at_window = await client.post(
            recovery,
            headers={"X-Api-Key": "dev-window"},
            json={"person_id": holder.person_id, "sms_code": {"code_id": "x", "code": "1"}},
        )
        assert at_window.json()["code"] == "ID_CHECK_REQUIRED", at_window.text
        sent = await receive_sms_code(client, services, holder.person_id, phone, app)
        # At most one code a minute.
        again = await client.post(
            f"{holder.url}/v1/persons/{holder.person_id}/sms-codes", headers=app, json={}
        )
        assert (again.status_code, again.json()["code"]) == (429, "SMS_CODE_TOO_SOON")
        wrong = f"{(int(sent['code']) + 1) % 10**6:06d}"
        answers = [await recover({**sent, "code": wrong}) for _ in range(5)]
        assert [a.json()["code"] for a in answers] == ["SMS_CODE_WRONG"] * 4 + ["SMS_CODE_LOCKED"]
        locked = await recover(sent)
        assert (locked.status_code, locked.json()["code"]) == (423, "SMS_CODE_LOCKED")
        assert all(sent["code"] not in a.text for a in [*answers, locked])

        # Another holder: the right code resets once; again it is used up.
        other = await Paying(client, services).ready(312)
        other_app = other.api.headers("dev-citizen-app", other.person_id)
        await choose_sms(
            client, services["notification"].url, other.person_id, other.phone, other_app
        )
        code = await receive_sms_code(client, services, other.person_id, other.phone, other_app)
        # Not for a stranger: the code belongs to its person (and a stranger's token is refused).
        stolen = await client.post(
            recovery, headers=app, json={"person_id": holder.person_id, "sms_code": code}
        )
        assert stolen.json()["code"] == "SMS_CODE_WRONG", stolen.text
        asked_for_other = await client.post(
            f"{other.url}/v1/persons/{other.person_id}/sms-codes", headers=app, json={}
        )
        assert (asked_for_other.status_code, asked_for_other.json()["code"]) == (
            403,
            "PERSON_FORBIDDEN",
        )
        mine = f"{other.url}/v1/cards/{other.card_id}/password/recovery"
        body = {"person_id": other.person_id, "sms_code": code, "new_password": "246813"}
        reset = await client.post(mine, headers=other_app, json=body)
        assert reset.json()["outcome"] == "reset", reset.text
        used = await client.post(mine, headers=other_app, json=body)
        assert (used.status_code, used.json()["code"]) == (409, "SMS_CODE_USED")

        # The delivery log shows the message, never the code.
        log = await client.get(
            f"{services['notification'].url}/v1/persons/{other.person_id}/messages",
            headers=other_app,
        )
        [sms] = [m for m in log.json() if m["template"] == "sms_code"]
        assert sms["status"] == "sent"
        assert code["code"] not in log.text
        assert "{sms_code}" in sms["body"]
