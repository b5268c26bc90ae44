"""The activation service's settings (env prefix ACTIVATION_)."""

import base64
import binascii
from datetime import timedelta
from typing import ClassVar

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.activation.password.domain import LockRule
from services.activation.payment.codes import DEV_KEY_ID, DEV_SEED, CodeKeys
from shared.regions import for_region
from shared.settings import ServiceSettings


class ActivationSettings(ServiceSettings):
    """Settings of the activation service."""

    model_config = SettingsConfigDict(env_prefix="ACTIVATION_", extra="ignore")
    production_needs: ClassVar[tuple[str, ...]] = (
        *ServiceSettings.production_needs,
        "ACTIVATION_PAYMENT_CODE_KEYS",
    )

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
    payment_code_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Ed25519 seeds (32 bytes, base64) that sign e-card payment codes, by key "
        "id, newest first: the first signs, all are published. Empty: a development key.",
    )
    payment_code_ttl_s: int = Field(60, ge=10, le=300, description="A payment code's life.")

    @model_validator(mode="after")
    def _payment_code_keys_are_real(self) -> "ActivationSettings":
        for kid, seed in self.payment_code_keys.items():
            try:
                raw = base64.b64decode(seed, validate=True)
            except binascii.Error:
                raise ValueError(f"payment code key {kid} is not base64") from None
            if len(raw) != 32 or raw == DEV_SEED:
                raise ValueError(f"payment code key {kid} must be 32 random bytes")
        if self.environment == "production" and not self.payment_code_keys:
            raise ValueError("production needs ACTIVATION_PAYMENT_CODE_KEYS")
        return self

    def code_keys(self) -> CodeKeys:
        """The keys that sign and verify payment codes."""
        if not self.payment_code_keys:
            return CodeKeys.from_seeds({DEV_KEY_ID: DEV_SEED})
        return CodeKeys.from_seeds(
            {kid: base64.b64decode(seed) for kid, seed in self.payment_code_keys.items()}
        )

    def initial_password_for(self, region: str) -> str:
        """The initial service password of a region's cards."""
        return for_region(self.initial_password, region, "123456")

    def lock_rule_for(self, region: str) -> LockRule:
        """The password lock rule of a region."""
        default = LockRule()
        return LockRule(failures=for_region(self.password_lock_failures, region, default.failures))

    def ecard_processing_delay(self, region: str) -> timedelta:
        """How long a region processes a new e-card before it works."""
        seconds = for_region(self.ecard_processing_s, region, 0)
        return timedelta(seconds=seconds)
