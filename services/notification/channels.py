"""The real channels: an HTTP SMS gateway, SMTP email and an HTTP app-push webhook.

Each returns the gateway's reference on success and raises DeliveryError otherwise, saying
whether trying again may help. Reasons carry status codes, never what the gateway echoed
(it may contain the phone number or the address).
"""

from __future__ import annotations

import email.utils
import json
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiohttp
import aiosmtplib

from services.notification.settings import NotificationSettings
from shared import tracing
from shared.contracts.notification import NotificationChannel


@dataclass(frozen=True)
class Outgoing:
    """One message to hand to a channel."""

    notification_id: str
    to: str
    subject: str
    body: str
    language: str


class DeliveryError(Exception):
    """The channel did not take the message; ``transient`` when a retry may succeed."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class Channel(Protocol):
    """A way to reach a citizen."""

    name: NotificationChannel

    @property
    def idempotent(self) -> bool:
        """Whether sending the same message id twice delivers it once."""
        ...

    async def send(self, message: Outgoing) -> str:
        """Deliver; the gateway's reference, or DeliveryError."""
        ...


#: HTTP answers worth retrying: timeouts, too many requests, server-side trouble.
RETRYABLE_STATUS = {408, 425, 429}


@dataclass
class HttpGateway:
    """A gateway taking ``POST {to, message_id, subject, text, language}`` with a bearer
    credential and an Idempotency-Key (SMS gateways and push webhooks alike)."""

    name: NotificationChannel
    url: str
    api_key: str
    client: aiohttp.ClientSession
    idempotent: bool = True

    async def send(self, message: Outgoing) -> str:
        """POST the message; 2xx is delivered, 408/425/429/5xx and no answer are transient."""
        headers = {"Idempotency-Key": message.notification_id}
        tracing.inject(headers)  # the gateway may continue the citizen's trace
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = {
            "to": message.to,
            "message_id": message.notification_id,
            "subject": message.subject,
            "text": message.body,
            "language": message.language,
        }
        try:
            async with self.client.post(self.url, json=body, headers=headers) as response:
                status = response.status
                answer = await response.read() if 200 <= status < 300 else b""
        except TimeoutError:  # aiohttp's timeouts are TimeoutErrors
            raise DeliveryError("GATEWAY_TIMEOUT", transient=True) from None
        except aiohttp.ClientError as exc:
            raise DeliveryError(
                f"GATEWAY_UNREACHABLE {type(exc).__name__}", transient=True
            ) from None
        if 200 <= status < 300:
            return _reference(answer)
        if status in RETRYABLE_STATUS or status >= 500:
            raise DeliveryError(f"GATEWAY_HTTP_{status}", transient=True)
        raise DeliveryError(f"GATEWAY_REFUSED_HTTP_{status}", transient=False)


def _reference(answer: bytes) -> str:
    """The gateway's id for the message, when its answer names one."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        return ""
    return str(parsed.get("id", "")) if isinstance(parsed, dict) else ""


@dataclass
class SmtpEmail:
    """Email over SMTP. SMTP has no idempotency key: the Message-ID lets mail clients fold a
    repeat, but a resend after a crash may reach the mailbox twice (logged as such)."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_s: float = 10
    name: NotificationChannel = "email"
    idempotent: bool = False

    async def send(self, message: Outgoing) -> str:
        """Send one email; 4xx answers and lost connections are transient, 5xx are not."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Message-ID"] = f"<{message.notification_id}@shebao.local>"
        mail["Date"] = email.utils.formatdate(usegmt=True)
        mail["Content-Language"] = message.language
        mail.set_content(message.body)
        try:
            await aiosmtplib.send(
                mail,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                start_tls=self.starttls,
                timeout=self.timeout_s,
            )
        except aiosmtplib.SMTPResponseException as exc:
            transient = 400 <= exc.code < 500
            raise DeliveryError(f"SMTP_{exc.code}", transient=transient) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"SMTP_UNREACHABLE {type(exc).__name__}", transient=True) from None
        return str(mail["Message-ID"])


def gateway_session(timeout_s: float) -> aiohttp.ClientSession:
    """The HTTP client of the gateways (one connection pool, kept alive). aiohttp, because a
    message is one request: httpx spent ~2.4 ms of CPU per request at 16 in flight, aiohttp
    ~0.27 ms (measured against the local sink)."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))


def configured_channels(
    settings: NotificationSettings, client: aiohttp.ClientSession
) -> dict[NotificationChannel, Channel]:
    """The channels whose gateway is configured."""
    channels: dict[NotificationChannel, Channel] = {}
    if settings.sms_url:
        channels["sms"] = HttpGateway(
            "sms", settings.sms_url, settings.sms_api_key, client, settings.sms_idempotency
        )
    if settings.push_url:
        channels["app_push"] = HttpGateway(
            "app_push", settings.push_url, settings.push_api_key, client, settings.push_idempotency
        )
    if settings.smtp_host:
        channels["email"] = SmtpEmail(
            settings.smtp_host,
            settings.smtp_port,
            settings.mail_from,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_starttls,
            settings.send_timeout_s,
        )
    return channels
