"""One way to assemble a service process: FastAPI edge + runtime started by the lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError

from shared import tracing
from shared.authority import Authority, FamilyLink, Holder, check_routes, remembered
from shared.consumer import ForeignFeed
from shared.deps import ports_of
from shared.errors import DomainError
from shared.http import HttpProtocol, install_edges
from shared.idempotency import document_idempotency
from shared.logging import configure_logging
from shared.observe import Probe
from shared.runtime import ServiceRuntime, run_service
from shared.settings import ServiceSettings
from shared.timeline import timeline_router
from shared.topics import Producer


def service_app(
    *,
    service: Producer,
    settings: ServiceSettings,
    description: str,
    routers: Sequence[APIRouter],
    status_of: Callable[[DomainError], int],
    migrations: Sequence[Path],
    make_handlers: Callable[[ServiceRuntime], Any] | None = None,
    feed: ForeignFeed | None = None,
    background: Callable[[Any], Coroutine[Any, Any, None]] | None = None,
    holders: Mapping[str, Holder] | None = None,
    family_link: FamilyLink | None = None,
    probes: Sequence[Probe] = (),
    large_bodies: Mapping[str, int] | None = None,
) -> FastAPI:
    """The service's ASGI app; its lifespan starts and stops the runtime (``large_bodies``:
    the routes that take files, and how large)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with run_service(service, settings, migrations, feed, probes) as runtime:
            app.state.runtime = runtime
            app.state.handlers = make_handlers(runtime) if make_handlers else None
            app.state.ports = ports_of(app.state.handlers)
            task = asyncio.create_task(background(app.state.handlers)) if background else None
            try:
                yield
            finally:
                tracing.flush()
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    # Swagger UI and ReDoc from assets shipped in the package: /docs works without internet.
    app = FastAPIOffline(
        title=f"shebao {service} service",
        description=description,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    tracing.configure(service, settings.trace_exporters, settings.otlp_endpoint)
    authority = Authority(
        service,
        holders={kind: remembered(lookup) for kind, lookup in (holders or {}).items()},
        family_link=family_link,
        keys=settings.citizen_keys(),
    )
    app.state.authority = authority
    install_edges(app, service, status_of, large_bodies)
    for router in routers:
        app.include_router(router)
    app.include_router(timeline_router())
    document_idempotency(app)  # before anything asks for (and caches) the document
    check_routes(app, authority)
    return app


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def load_settings(cls: type[SettingsT]) -> SettingsT:
    """The service's settings from its environment; a setting that is missing or refused
    (a development secret in production) stops the process with one line per setting, naming
    it and why: never a traceback, never the value (it may be a secret)."""
    try:
        return cls()
    except ValidationError as exc:
        for error in exc.errors(include_input=False, include_url=False, include_context=False):
            # Only the setting's name: deeper parts may be keys of a secret mapping.
            where = str(error["loc"][0]) if error["loc"] else "settings"
            print(f"refused to start: {where}: {error['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


def serve(app: FastAPI, service: str, settings: ServiceSettings) -> None:
    """Run the app with uvicorn in this process, logging as structured JSON."""
    configure_logging(service, level=settings.log_level)
    # What was made to start (modules, models, the app) lives as long as the process: out of
    # the cycle collector's sight, which would otherwise walk it at every full collection.
    gc.freeze()
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http=HttpProtocol,
    )
