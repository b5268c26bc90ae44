"""Prometheus metrics of the event spine (served at each service's /metrics)."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PUBLISHED = Counter(
    "shebao_events_published_total", "Events the outbox relay published", ["topic"]
)
EVENTS_APPLIED = Counter(
    "shebao_events_applied_total", "Foreign events a consumer group applied", ["group"]
)
DUPLICATES_SKIPPED = Counter(
    "shebao_duplicates_skipped_total", "Redelivered events the inbox recognised", ["group"]
)
DEAD_LETTERS = Counter(
    "shebao_dead_letters_total", "Records sent to a dead-letter topic", ["group"]
)
CONSUMER_HELD = Gauge(
    "shebao_consumer_held",
    "1 while a consumer group holds at a record it cannot park (alert on it)",
    ["group"],
)
COMMANDS_PER_TRANSACTION = Histogram(
    "shebao_commands_per_transaction",
    "Commands that shared one group-committed transaction (shared.groupcommit)",
    ["producer"],
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
GROUP_FALLBACKS = Counter(
    "shebao_group_commit_fallbacks_total",
    "Shared transactions that failed, so each of their commands ran again on its own",
    ["producer"],
)
