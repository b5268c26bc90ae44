"""Identity's settings (env prefix IDENTITY_); refuses development secrets in production."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.identity.facecheck import dev_provider_key, public_key_b64
from shared.settings import ServiceSettings

DEV_HASH_KEY = "dev-identity-hash-key-not-secret"


class IdentitySettings(ServiceSettings):
    """Settings of the identity service."""

    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")

    port: int = Field(8001, ge=1, le=65535)
    hash_key: str = Field(DEV_HASH_KEY, min_length=16, description="Key of look-up hashes.")
    face_providers: dict[str, list[str]] = Field(
        default_factory=lambda: {"dev-face": [public_key_b64(dev_provider_key())]},
        description="Certified face-check provider -> its base64 Ed25519 public keys.",
    )
    face_max_age_s: int = Field(300, ge=10, description="Oldest face check accepted, seconds.")
    face_min_score: float = Field(80.0, ge=0, le=100, description="Lowest match score accepted.")

    @model_validator(mode="after")
    def _no_dev_secrets(self) -> IdentitySettings:
        if self.environment == "production":
            if self.hash_key == DEV_HASH_KEY or len(self.hash_key) < 32:
                raise ValueError("production needs IDENTITY_HASH_KEY of 32+ characters")
            if "dev-face" in self.face_providers:
                raise ValueError("the dev-face provider is refused in production")
        return self
