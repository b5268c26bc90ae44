"""Identity's settings (env prefix IDENTITY_); refuses development secrets in production."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.identity.domain import LockPolicy
from services.identity.vault import dev_master_key
from shared import citizen
from shared.contracts.facecheck import dev_provider_key, public_key_b64
from shared.privacy import check_key_32
from shared.regions import for_region
from shared.settings import ServiceSettings
from shared.signing import SigningKeys, decode_key

DEV_HASH_KEY = "dev-identity-hash-key-not-secret"
DEV_MASTER_KEY = base64.b64encode(dev_master_key()).decode()


class LockPolicySetting(BaseModel):
    """A region's face-lock rule."""

    failures: int = Field(5, ge=1, description="Failed face checks that lock.")
    window_hours: float = Field(24, gt=0, description="Within this many hours.")
    lock_hours: float = Field(24, gt=0, description="Locked for this many hours.")

    def policy(self) -> LockPolicy:
        """The domain's form of the rule."""
        return LockPolicy(
            failures=self.failures,
            window=timedelta(hours=self.window_hours),
            lock_for=timedelta(hours=self.lock_hours),
        )


class IdentitySettings(ServiceSettings):
    """Settings of the identity service."""

    model_config = SettingsConfigDict(env_prefix="IDENTITY_", extra="ignore")
    production_needs: ClassVar[tuple[str, ...]] = (
        *ServiceSettings.production_needs,
        "IDENTITY_HASH_KEY",
        "IDENTITY_MASTER_KEY",
        "IDENTITY_FACE_PROVIDERS",
        "IDENTITY_CITIZEN_TOKEN_SEEDS",
    )

    port: int = Field(8001, ge=1, le=65535)
    hash_key: str = Field(DEV_HASH_KEY, min_length=16, description="Key of look-up hashes.")
    face_providers: dict[str, list[str]] = Field(
        default_factory=lambda: {"dev-face": [public_key_b64(dev_provider_key())]},
        description="Certified face-check provider -> its base64 Ed25519 public keys.",
    )
    face_max_age_s: int = Field(300, ge=10, description="Oldest face check accepted, seconds.")
    face_min_score: float = Field(80.0, ge=0, le=100, description="Lowest match score accepted.")
    master_key: str = Field(
        DEV_MASTER_KEY, description="Base64 32-byte key that wraps every person's data key."
    )
    face_lock: dict[str, LockPolicySetting] = Field(
        default_factory=dict,
        description="Face-lock rule per region code or 2-digit province; default 5/24h/24h.",
    )

    citizen_token_seeds: dict[str, str] = Field(
        default_factory=dict,
        description="Ed25519 seeds (32 bytes, base64) that sign citizen tokens, by key id, "
        "newest first (it signs); each one's public key must be in SHEBAO_CITIZEN_TOKEN_KEYS. "
        "Empty: the development key.",
    )
    citizen_token_ttl_s: int = Field(
        900, ge=60, le=1800, description="How long a citizen token lives (at most 30 min)."
    )

    family_limit: dict[str, int] = Field(
        default_factory=dict,
        description="Most family members a holder may link, per region or province; default 8.",
    )

    def family_limit_for(self, region: str) -> int:
        """The family limit of a region: its own, its province's, or 8."""
        return for_region(self.family_limit, region, 8)

    def lock_policy(self, region: str) -> LockPolicy:
        """The face-lock rule of a region: its own, its province's, or the default."""
        return for_region(self.face_lock, region, LockPolicySetting()).policy()

    def token_keys(self) -> SigningKeys:
        """The keys that sign citizen tokens."""
        if not self.citizen_token_seeds:
            return SigningKeys.from_seeds({citizen.DEV_KEY_ID: citizen.DEV_SEED})
        return SigningKeys.from_seeds(
            {
                kid: decode_key(seed, f"citizen token seed {kid}")
                for kid, seed in self.citizen_token_seeds.items()
            }
        )

    def master_key_bytes(self) -> bytes:
        """The master key as bytes."""
        return base64.b64decode(self.master_key)

    @field_validator("master_key")
    @classmethod
    def _a_32_byte_key(cls, value: str) -> str:
        return check_key_32(value, "IDENTITY_MASTER_KEY")

    @model_validator(mode="after")
    def _tokens_verifiable(self) -> IdentitySettings:
        signing = self.token_keys()
        published = self.citizen_keys().jwks()["keys"]
        mine = signing.public.jwks()["keys"][0]
        if not any(k["kid"] == mine["kid"] and k["x"] == mine["x"] for k in published):
            raise ValueError(
                "the citizen token signing key must be listed in SHEBAO_CITIZEN_TOKEN_KEYS"
            )
        return self

    @model_validator(mode="after")
    def _no_dev_secrets(self) -> IdentitySettings:
        if self.environment == "production":
            if self.hash_key == DEV_HASH_KEY or len(self.hash_key) < 32:
                raise ValueError("production needs IDENTITY_HASH_KEY of 32+ characters")
            if self.master_key == DEV_MASTER_KEY:
                raise ValueError("production needs its own IDENTITY_MASTER_KEY")
            if citizen.DEV_SEED in [s.private_bytes_raw() for s in self.token_keys().keys.values()]:
                raise ValueError("the development citizen token key is refused in production")
            dev_face = public_key_b64(dev_provider_key())
            if "dev-face" in self.face_providers or any(
                dev_face in keys for keys in self.face_providers.values()
            ):
                # Its private key derives from a seed in the repository: anyone can sign.
                raise ValueError("the development face provider's key is refused in production")
        return self
