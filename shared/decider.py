"""An aggregate declared once: how its streams are named, where its state starts, how events
change it and how it decides a command. Pure (no I/O): a domain module declares it, the event
store runs it (``shared.aggregate.run``)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.contracts.base import EventPayload

S = TypeVar("S")
C = TypeVar("C")


@dataclass(frozen=True)
class Decider(Generic[S, C]):
    """One aggregate: ``decide(state, command) -> events`` and ``evolve(state, event)``."""

    #: The first word of its stream names: ``person-<person id>``, ``password-<card>-<kind>``.
    name: str
    initial: S
    evolve: Callable[[S, EventPayload], S]
    decide: Callable[[S, C], Sequence[EventPayload]]

    def stream(self, *key: str) -> str:
        """The name of the stream of the instance ``key`` names."""
        return "-".join((self.name, *key))

    def at(self, *key: str, person: str) -> Instance[S, C]:
        """The instance ``key`` names, whose events are about ``person``."""
        return Instance(self, self.stream(*key), person)

    def in_stream(self, stream_id: str, person: str) -> Instance[S, C]:
        """The instance of a stream whose name is already known (from a read model)."""
        return Instance(self, stream_id, person)

    def fold(self, events: Iterable[EventPayload], state: S | None = None) -> S:
        """The state after ``events``, from ``state`` (the initial state when not given)."""
        return functools.reduce(self.evolve, events, self.initial if state is None else state)


@dataclass(frozen=True)
class Instance(Generic[S, C]):
    """One instance of an aggregate: its stream, and the person its events are about."""

    decider: Decider[S, C]
    stream_id: str
    person_id: str
