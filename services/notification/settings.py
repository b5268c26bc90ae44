"""The notification service's settings (env prefix NOTIFICATION_): where each channel's
gateway is, how hard to retry, how many messages a person may get in a window."""

from __future__ import annotations

import base64
import hashlib
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from shared.faults import Faults, Point
from shared.privacy import check_key_32
from shared.settings import ServiceSettings

DEV_CONTACT_KEY = base64.b64encode(hashlib.sha256(b"shebao-dev-contact-key").digest()).decode()


class NotificationSettings(ServiceSettings):
    """Settings of the notification service."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATION_", extra="ignore")
    production_needs: ClassVar[tuple[str, ...]] = (
        *ServiceSettings.production_needs,
        "NOTIFICATION_CONTACT_KEY",
    )

    port: int = Field(8004, ge=1, le=65535)
    default_language: Literal["zh-Hans", "en"] = Field(
        "zh-Hans", description="Language of messages to persons who chose none."
    )
    sms_url: str | None = Field(None, description="HTTP SMS gateway endpoint (POST JSON).")
    sms_api_key: str = Field("", description="Bearer credential of the SMS gateway.")
    sms_idempotency: bool = Field(
        True, description="Whether the SMS gateway honours the Idempotency-Key header."
    )
    push_url: str | None = Field(None, description="App push webhook endpoint (POST JSON).")
    push_api_key: str = Field("", description="Bearer credential of the push webhook.")
    push_idempotency: bool = Field(
        True, description="Whether the push webhook honours the Idempotency-Key header."
    )
    smtp_host: str | None = Field(None, description="SMTP server for email.")
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    mail_from: str = Field("社保服务 <noreply@shebao.local>", description="Sender of email.")
    send_timeout_s: float = Field(10, gt=0, description="Longest wait for one gateway call.")
    max_attempts: int = Field(6, ge=1, description="Attempts before NotificationFailed.")
    backoff_base_s: float = Field(2, gt=0, description="First retry delay; doubles each time.")
    backoff_max_s: float = Field(900, gt=0, description="Longest delay between attempts.")
    lease_s: float = Field(
        60,
        gt=0,
        description="A claimed message not recorded within this is taken as interrupted "
        "(crash between send and record) and sent again.",
    )
    dispatch_batch: int = Field(64, ge=1, description="Messages claimed per round.")
    dispatch_workers: int = Field(
        4,
        ge=1,
        le=64,
        description="Rounds under way at once (a person's messages on a"
        " channel still go one after the other).",
    )
    rate_limit: int = Field(
        20, ge=1, description="Most optional messages a person gets per window."
    )
    rate_window_s: float = Field(3600, gt=0, description="The rate limit's window, seconds.")
    contact_key: str = Field(
        DEV_CONTACT_KEY, description="Base64 32-byte key sealing phone numbers and addresses."
    )
    fault_crash_after_send: bool = Field(
        False, description="Test only: exit after a gateway accepted, before recording it."
    )

    def contact_key_bytes(self) -> bytes:
        """The contact key as bytes."""
        return base64.b64decode(self.contact_key)

    def faults(self) -> Faults:
        """The crash points armed in this process (crash tests only)."""
        armed: frozenset[Point] = frozenset({"after_send"} if self.fault_crash_after_send else ())
        return Faults(super().faults().armed | armed)

    @field_validator("contact_key", mode="before")
    @classmethod
    def _unset_is_the_development_key(cls, value: object) -> object:
        return DEV_CONTACT_KEY if value in ("", None) else value

    @field_validator("contact_key")
    @classmethod
    def _a_32_byte_key(cls, value: str) -> str:
        return check_key_32(value, "NOTIFICATION_CONTACT_KEY")

    @model_validator(mode="after")
    def _no_development_key_in_production(self) -> NotificationSettings:
        if self.environment == "production":
            if self.contact_key == DEV_CONTACT_KEY:
                raise ValueError("production needs NOTIFICATION_CONTACT_KEY")
            if self.fault_crash_after_send:
                raise ValueError("fault injection is for tests only")
        return self
