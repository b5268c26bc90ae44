"""The registry's HTTP routes: register one insured person (a window, an operator), import a
province's file, and issue person facts after an upgrade or a key rotation (operators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from services.identity.handlers import IdentityHandlers
from services.identity.registration.handlers import RegistrationHandlers
from services.identity.registration.rows import read_csv
from shared.authority import Caller, RefusedError
from shared.deps import port
from shared.http import ERROR_RESPONSES, request_causation

Registrations = Annotated[RegistrationHandlers, port(RegistrationHandlers)]
Identities = Annotated[IdentityHandlers, port(IdentityHandlers)]
router = APIRouter(prefix="/v1", tags=["registry"], responses=ERROR_RESPONSES)

#: Rejected rows listed in an answer at most (all are counted).
MAX_LISTED = 1000
#: A file larger than this is refused (413, by the edges' body limit: the app names this route
#: among its large bodies): split it (each part is checked and imported on its own; importing
#: a row again changes nothing). About 700,000 rows.
MAX_IMPORT_BYTES = 64 * 1024 * 1024


class RegistrationRequest(BaseModel):
    """An insured person as the social insurance agency registers them."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="Name as on the ID card.", max_length=100)
    id_number: str = Field(description="18-character resident ID number.", max_length=32)
    phone: str | None = Field(None, description="Mobile number (11 digits).", max_length=20)
    region: str = Field(description="Insured region (6-digit code).", max_length=6)
    guardian_id_number: str | None = Field(
        None, description="The guardian's ID number; required under 16.", max_length=32
    )


class RegistrationResponse(BaseModel):
    """The registered person's opaque id."""

    person_id: str = Field(description="Opaque id of the person, used with every service.")
    created: bool = Field(description="False when the person was already registered as given.")


class RejectedRow(BaseModel):
    """A row of the file that cannot be registered; the reason never quotes the data."""

    line: int = Field(description="Line of the file (the header is line 1).")
    code: str = Field(description="Reason code.")
    reason: str = Field(description="What to correct.")


class ImportResult(BaseModel):
    """What an import did."""

    rows: int = Field(description="Data rows in the file.")
    registered: int = Field(description="Persons registered now.")
    unchanged: int = Field(description="Rows of persons already registered as given.")
    committed: bool = Field(description="False when nothing was written (a rejected row).")
    rejected_count: int = Field(description="How many rows were rejected.")
    rejected: list[RejectedRow] = Field(
        description=f"The rejected rows in file order, the first {MAX_LISTED} of them."
    )


class FactsPage(BaseModel):
    """Which page of registered persons to issue facts for."""

    model_config = ConfigDict(extra="forbid")

    after: str = Field("", max_length=64, description="Person id to continue after.")
    limit: int = Field(500, ge=1, le=5000, description="Persons on this page at most.")


class FactsIssued(BaseModel):
    """One page of ``POST /v1/registry/facts``."""

    seen: int = Field(description="Registered persons looked at on this page.")
    issued: int = Field(description="Of them, persons whose facts were issued now.")
    next_after: str | None = Field(description="Send as ``after`` for the next page; none: done.")


@router.post(
    "/persons",
    status_code=201,
    response_model=RegistrationResponse,
    responses={200: {"model": RegistrationResponse}},
)
async def register(
    body: RegistrationRequest,
    request: Request,
    response: Response,
    _: Caller,
    registrar: Registrations,
) -> RegistrationResponse:
    """Register an insured person (again with the same details: nothing changes, 200)."""
    report = await registrar.import_rows(
        [(1, body.model_dump(exclude_none=True))], request_causation(request)
    )
    if report.rejected:
        raise report.rejected[0].error
    if report.unchanged:
        response.status_code = 200
    return RegistrationResponse(person_id=report.person_ids[1], created=bool(report.registered))


@router.post(
    "/registry/imports",
    response_model=ImportResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "UTF-8 CSV, first line name,id_number,phone,region,"
            "guardian_id_number (phone and guardian_id_number may be empty).",
        }
    },
)
async def import_persons(
    request: Request,
    _: Caller,
    registrar: Registrations,
    partial: Annotated[
        bool, Query(description="Import the valid rows even when some are rejected.")
    ] = False,
) -> ImportResult:
    """Register a file of insured persons. Every row is checked first; unless ``partial``,
    one rejected row means nothing is imported. Importing the same file again changes nothing."""
    text = await _csv_text(request)
    report = await registrar.import_rows(
        read_csv(text), request_causation(request), partial=partial
    )
    return ImportResult(
        rows=report.rows,
        registered=report.registered,
        unchanged=report.unchanged,
        committed=report.committed,
        rejected_count=len(report.rejected),
        rejected=[
            RejectedRow(line=r.line, code=r.error.code, reason=r.error.message)
            for r in report.rejected[:MAX_LISTED]
        ],
    )


@router.post("/registry/facts", response_model=FactsIssued)
async def issue_facts(
    request: Request,
    _: Caller,
    identities: Identities,
    page: FactsPage | None = None,
) -> FactsIssued:
    """Issue person facts (PersonFactsIssued) under the newest key for every registered
    person on this page who has none under it: once after an upgrade, and after a key
    rotation. Page by page, in person id order; again, it issues nothing new."""
    page = page or FactsPage()
    causation = request_causation(request)
    seen, issued, last = await identities.issue_facts_page(page.after, page.limit, causation)
    return FactsIssued(seen=seen, issued=issued, next_after=last if seen == page.limit else None)


async def _csv_text(request: Request) -> str:
    media, _, parameters = request.headers.get("content-type", "").partition(";")
    charset = parameters.strip().lower().removeprefix("charset=").strip('"') or "utf-8"
    if media.strip().lower() != "text/csv" or charset not in ("utf-8", "utf8"):
        raise RefusedError(
            415, "CSV_EXPECTED", "Send the file as Content-Type: text/csv (UTF-8, charset=utf-8)."
        )
    body = await request.body()  # at most MAX_IMPORT_BYTES (shared.bodies)
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RefusedError(422, "CSV_NOT_UTF8", "The file is not UTF-8 text.") from None
