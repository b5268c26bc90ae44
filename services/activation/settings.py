"""The activation service's settings (env prefix ACTIVATION_)."""

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.activation.passwords import LockRule
from shared.settings import ServiceSettings


class ActivationSettings(ServiceSettings):
    """Settings of the activation service."""

    model_config = SettingsConfigDict(env_prefix="ACTIVATION_", extra="ignore")

    port: int = Field(8003, ge=1, le=65535)
    initial_password: dict[str, str] = Field(
        default_factory=dict,
        description="A new card's initial service password, per region or province; 123456.",
    )
    password_lock_failures: dict[str, int] = Field(
        default_factory=dict,
        description="Wrong passwords in 24 h that lock it, per region or province; default 6.",
    )
    ecard_processing_s: dict[str, int] = Field(
        default_factory=dict,
        description="Seconds a region processes a new e-card before it works; default 0.",
    )
    max_verification_age_s: int = Field(
        300, ge=30, description="Online activation needs a face verification this recent."
    )

    def initial_password_for(self, region: str) -> str:
        """The initial service password of a region's cards."""
        return (
            self.initial_password.get(region) or self.initial_password.get(region[:2]) or ("123456")
        )

    def lock_rule_for(self, region: str) -> LockRule:
        """The password lock rule of a region."""
        failures = self.password_lock_failures.get(region) or self.password_lock_failures.get(
            region[:2]
        )
        return LockRule(failures=failures or 6)

    def ecard_processing_delay(self, region: str) -> timedelta:
        """How long a region processes a new e-card before it works."""
        seconds = self.ecard_processing_s.get(region, self.ecard_processing_s.get(region[:2], 0))
        return timedelta(seconds=seconds)
