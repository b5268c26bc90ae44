"""The local stack's supervisor: what exits is started again, with a pause that doubles while
it keeps failing; an operator's restart is done at once."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from deploy import supervisor as sup
from deploy.stack import Infrastructure, Stack
from deploy.supervisor import Part, Supervisor


class Flaky:
    """A part that runs until killed, and fails its next ``failures`` starts."""

    def __init__(self, failures: int = 0) -> None:
        self.up = True
        self.failures = failures
        self.starts = 0
        self.stops = 0

    def start(self) -> None:
        self.starts += 1
        if self.failures:
            self.failures -= 1
            raise RuntimeError("port taken")
        self.up = True

    def stop(self) -> None:
        self.stops += 1
        self.up = False


def supervised(tmp_path: Path, **parts: Flaky) -> Supervisor:
    watcher = Supervisor(Stack(Infrastructure("", "")), tmp_path / "restart")
    watcher.parts = {
        name: Part(
            name,
            running=lambda f=flaky: f.up,  # type: ignore[misc]
            start=flaky.start,
            stop=flaky.stop,
            pid=lambda: 1,
        )
        for name, flaky in parts.items()
    }
    return watcher


def test_a_crashed_part_is_started_again_and_the_others_run_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(sup, "_now", lambda: clock[0])
    card, identity = Flaky(), Flaky()
    watcher = supervised(tmp_path, card=card, identity=identity)
    clock[0] += sup.HEALTHY_AFTER_S + 1
    card.up = False  # kill -9
    assert watcher.tick() == ["card"]  # it had run long enough: at once
    assert (card.up, card.starts, identity.starts) == (True, 1, 0)
    assert watcher.status()["card"]["restarts"] == 1


def test_a_part_that_keeps_failing_waits_longer_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [0.0]
    monkeypatch.setattr(sup, "_now", lambda: clock[0])
    kafka = Flaky(failures=4)
    watcher = supervised(tmp_path, kafka=kafka)
    kafka.up = False
    starts_at: list[float] = []
    while kafka.starts < 5:
        before = kafka.starts
        watcher.tick()
        if kafka.starts > before:
            starts_at.append(clock[0])
        clock[0] += 0.25
    pauses = [b - a for a, b in itertools.pairwise(starts_at)]
    assert starts_at[0] == pytest.approx(sup.FIRST_PAUSE_S)
    assert all(later > earlier for earlier, later in itertools.pairwise(pauses))
    assert kafka.up


def test_the_pause_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(sup, "_now", lambda: clock[0])
    broken = Flaky(failures=10**6)
    watcher = supervised(tmp_path, identity=broken)
    broken.up = False
    for _ in range(4000):
        watcher.tick()
        clock[0] += 0.5
    assert watcher.parts["identity"].pause_s == sup.MAX_PAUSE_S


def test_an_operator_asks_for_a_restart(tmp_path: Path) -> None:
    notification = Flaky()
    watcher = supervised(tmp_path, notification=notification)
    (tmp_path / "restart" / "notification").touch()
    assert watcher.tick() == ["notification"]
    assert (notification.stops, notification.starts, notification.up) == (1, 1, True)
    assert not (tmp_path / "restart" / "notification").exists()
