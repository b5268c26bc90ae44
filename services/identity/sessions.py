"""Citizen sessions: a citizen who passed a real-person verification on a self-service channel
is given a short-lived citizen token (``shared.citizen``) for that channel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared import citizen
from shared.signing import SigningKeys


@dataclass(frozen=True)
class Sessions:
    """Identity's signing keys and the life of a token."""

    keys: SigningKeys
    ttl: timedelta
    clock: Callable[[], datetime]
    grant_ttl: timedelta = timedelta(seconds=60)

    def sign_in(self, person_id: str, channel: str) -> tuple[str, citizen.CitizenToken]:
        """A token for the person, valid through the channel credential ``channel`` only."""
        return citizen.issue(self.keys, person_id, channel, self.clock(), self.ttl)

    def family_grant(self, holder: str, member: str, channel: str) -> tuple[str, datetime]:
        """A grant for the holder to act for a member they linked (checked by the caller)."""
        raw, granted = citizen.grant(
            self.keys, holder, member, channel, self.clock(), self.grant_ttl
        )
        return raw, granted.expires_at
