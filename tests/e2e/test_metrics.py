"""What an operator watches is on every service's /metrics from the start: the outbox backlog
and its oldest event, the active relay, each group's lag per partition and its dead letters,
and the services' own queues."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from deploy.stack import ServiceProcess


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{url}/metrics", timeout=10, follow_redirects=True).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def test_every_service_shows_its_outbox_relay_lag_and_queues(
    services: dict[str, ServiceProcess],
) -> None:
    deadline = time.monotonic() + 30
    for name in ("identity", "card", "activation", "notification"):
        url = services[name].url
        while True:
            found = samples(url)
            leader = value(found, "shebao_relay_leader", service=name)
            lags = [k for k in found if k[0] == "shebao_consumer_lag" and ("group", name) in k[1]]
            if (leader == 1 and lags) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert leader == 1, f"{name}: no active relay shown"
        assert lags, f"{name}: no consumer lag series"
        assert all(found[k] >= 0 for k in lags)
        assert value(found, "shebao_outbox_backlog", service=name) is not None, name
        assert value(found, "shebao_outbox_oldest_age_seconds", service=name) is not None, name
        assert value(found, "shebao_dead_letters_total", group=name) is not None, name
        assert value(found, "shebao_consumer_held", group=name) == 0, name
    assert value(samples(services["card"].url), "shebao_card_timers_due") is not None
    queue = samples(services["notification"].url)
    for channel in ("app_push", "sms", "email"):
        assert value(queue, "shebao_notification_queue", channel=channel) is not None, channel
