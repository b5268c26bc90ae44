"""Fault injection for the crash tests: named points where a process dies on purpose, as a
power cut would. Only settings arm them, and production refuses to (``ServiceSettings``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import structlog

log = structlog.get_logger(__name__)

#: After a consumer's database commit, before its Kafka offset commit; after a gateway
#: accepted a message, before the notifier recorded it.
Point = Literal["after_commit", "after_send"]
CRASH_EXIT_CODE = 70


@dataclass(frozen=True)
class Faults:
    """The fault points armed in this process (none, outside the crash tests)."""

    armed: frozenset[Point] = frozenset()

    def crash_here(self, point: Point, **context: object) -> None:
        """Die at once if ``point`` is armed."""
        if point in self.armed:
            log.warning("fault_injected_crash", point=point, **context)
            os._exit(CRASH_EXIT_CODE)


NO_FAULTS = Faults()
