"""The card service's settings (env prefix CARD_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class CardSettings(ServiceSettings):
    """Settings of the card service."""

    model_config = SettingsConfigDict(env_prefix="CARD_", extra="ignore")

    port: int = Field(8002, ge=1, le=65535)
