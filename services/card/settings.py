"""The card service's settings (env prefix CARD_); some rules are per region."""

from datetime import timedelta

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.regions import for_region
from shared.settings import ServiceSettings


class CardSettings(ServiceSettings):
    """Settings of the card service."""

    model_config = SettingsConfigDict(env_prefix="CARD_", extra="ignore")

    port: int = Field(8002, ge=1, le=65535)
    loss_lapse_days: dict[str, float] = Field(
        default_factory=dict,
        description="Days a temporary loss report lasts, per region or province; default 7.",
    )
    replacement_fee_fen: dict[str, int] = Field(
        default_factory=dict,
        description="Replacement fee in fen, per region or province; default 2000 (20 yuan).",
    )
    seal_after_days: float = Field(
        365, gt=0, description="A produced card not activated within this many days is sealed."
    )
    timer_interval_s: float = Field(1.0, gt=0, description="How often due timers are checked.")

    def loss_lapse(self, region: str) -> timedelta:
        """How long a temporary loss report lasts in a region."""
        days = for_region(self.loss_lapse_days, region, 7)
        return timedelta(days=days)

    def replacement_fee(self, region: str) -> int:
        """The replacement fee of a region, in fen."""
        return for_region(self.replacement_fee_fen, region, 2000)

    @property
    def seal_after(self) -> timedelta:
        """How long a produced card may wait for collection and activation."""
        return timedelta(days=self.seal_after_days)
