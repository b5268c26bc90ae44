"""The activation service's settings (env prefix ACTIVATION_)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ActivationSettings(ServiceSettings):
    """Settings of the activation service."""

    model_config = SettingsConfigDict(env_prefix="ACTIVATION_", extra="ignore")

    port: int = Field(8003, ge=1, le=65535)
    max_verification_age_s: int = Field(
        300, ge=30, description="Online activation needs a face verification this recent."
    )
