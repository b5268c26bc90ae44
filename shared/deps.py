"""Typed FastAPI dependencies: what a route needs from its service's process.

A route names what it needs (``runtime: Runtime``, ``conn: Db``, ``cards: Port[CardHandlers]``
spelled ``Annotated[CardHandlers, port(CardHandlers)]``) instead of reaching into
``request.app.state``; ``shared.app.service_app`` puts the parts there once, at start.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request

from shared.db import Connection
from shared.runtime import ServiceRuntime
from shared.settings import ServiceSettings

T = TypeVar("T")


def ports_of(handlers: Any) -> dict[type, Any]:
    """Each handler object a service made, by its type: the container and, when it is a
    dataclass, every part of it (a service with sub-aggregates holds one handler each)."""
    if handlers is None:
        return {}
    found: dict[type, Any] = {type(handlers): handlers}
    if dataclasses.is_dataclass(handlers):
        for field in dataclasses.fields(handlers):
            part = getattr(handlers, field.name)
            found.setdefault(type(part), part)
    return found


def port(kind: type[T]) -> Any:
    """A dependency giving the service's handler object of this type."""

    async def get(request: Request) -> T:
        ports: Mapping[type, Any] = request.app.state.ports
        return cast(T, ports[kind])

    return Depends(get)


async def _runtime(request: Request) -> ServiceRuntime:
    return cast(ServiceRuntime, request.app.state.runtime)


async def _settings(request: Request) -> ServiceSettings:
    return cast(ServiceSettings, request.app.state.settings)


Runtime = Annotated[ServiceRuntime, Depends(_runtime)]
Settings = Annotated[ServiceSettings, Depends(_settings)]


async def _connection(runtime: Runtime) -> AsyncIterator[Connection]:
    async with runtime.pool.acquire() as conn:
        yield conn


#: A connection from the service's pool for this request's reads.
Db = Annotated[Connection, Depends(_connection)]
