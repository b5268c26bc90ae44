"""What came of handing messages to their channels: the outcome of one send, when a failed
one is tried again, and how each is counted and logged."""

from __future__ import annotations

import random
from dataclasses import dataclass

import structlog
from prometheus_client import Counter, Histogram

from services.notification import deliveries
from shared.envelope import utc_now

log = structlog.get_logger(__name__)

DELIVERIES = Counter(
    "shebao_notification_deliveries_total",
    "Delivery attempts by channel and outcome.",
    ["channel", "outcome"],
)
for _channel in ("app_push", "sms", "email"):
    for _outcome in ("sent", "retry", "failed"):
        DELIVERIES.labels(_channel, _outcome)  # every series from the start, at zero
DELIVERY_LATENCY = Histogram(
    "shebao_notification_delivery_seconds",
    "From a message being decided to its channel taking it, by channel.",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
for _channel in ("app_push", "sms", "email"):
    DELIVERY_LATENCY.labels(_channel)


@dataclass(frozen=True)
class Outcome:
    """What came of handing one message to its channel."""

    claimed: deliveries.Claimed
    duplicate_risk: bool
    ref: str | None = None
    error: str | None = None
    #: Set when a transient failure is to be retried after this many seconds.
    retry_in_s: float | None = None
    #: The send's span (W3C traceparent): the event recording the outcome continues it.
    trace_context: str | None = None

    @property
    def failed(self) -> bool:
        """Delivery gave up (the last attempt, or a refusal for good)."""
        return self.error is not None and self.retry_in_s is None


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    """Delay before the attempt after ``attempt``: doubling, capped, half of it jittered so
    that messages failing together do not retry together."""
    ceiling = min(max_s, base_s * 2 ** (attempt - 1))
    return float(ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - not a secret


def report(outcomes: list[Outcome]) -> None:
    """Count and log what came of each send of a round."""
    for o in outcomes:
        c = o.claimed
        if o.retry_in_s is not None:
            DELIVERIES.labels(c.channel, "retry").inc()
            log.info(
                "delivery_retry_scheduled",
                notification_id=c.notification_id,
                channel=c.channel,
                attempt=c.attempts,
                reason=o.error,
                delay_s=round(o.retry_in_s, 3),
            )
        elif o.failed:
            DELIVERIES.labels(c.channel, "failed").inc()
            log.warning(
                "notification_failed",
                notification_id=c.notification_id,
                channel=c.channel,
                attempts=c.attempts,
                reason=o.error,
            )
        else:
            DELIVERIES.labels(c.channel, "sent").inc()
            latency = (utc_now() - c.created_at).total_seconds()
            DELIVERY_LATENCY.labels(c.channel).observe(max(latency, 0.0))
            log.info(
                "notification_sent",
                notification_id=c.notification_id,
                channel=c.channel,
                attempt=c.attempts,
            )
