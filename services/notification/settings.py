"""The notification service's settings (env prefix NOTIFICATION_)."""

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    """Settings of the notification service."""

    model_config = SettingsConfigDict(env_prefix="NOTIFICATION_", extra="ignore")

    port: int = Field(8004, ge=1, le=65535)
    default_language: Literal["zh-Hans", "en"] = Field(
        "zh-Hans", description="Language of messages to persons who chose none."
    )
