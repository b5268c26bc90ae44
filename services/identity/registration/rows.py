"""The registry file: a CSV of insured persons read row by row, and the report of an import."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

from services.identity.errors import IdentityError

CSV_COLUMNS = ("name", "id_number", "phone", "region", "guardian_id_number")


class DuplicateRowError(IdentityError):
    code = "DUPLICATE_ROW"
    default_message = "The same ID number appears on an earlier row of this file."


class CsvHeaderError(IdentityError):
    code = "CSV_HEADER"
    default_message = f"The first line must name the columns: {','.join(CSV_COLUMNS)}."


@dataclass(frozen=True)
class RowRejected:
    """A row that cannot be registered, and why (the reason never quotes the data)."""

    line: int
    error: IdentityError


@dataclass
class ImportReport:
    """What an import did."""

    rows: int = 0
    registered: int = 0
    unchanged: int = 0
    rejected: list[RowRejected] = field(default_factory=list)
    committed: bool = False
    person_ids: dict[int, str] = field(default_factory=dict)


Row = tuple[int, dict[str, str]]


def read_csv(text: str) -> Iterator[Row]:
    """(line number, fields) of each data row; CsvHeaderError if the header is wrong."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not set(CSV_COLUMNS[:4]) <= set(reader.fieldnames):
        raise CsvHeaderError()
    for fields in reader:
        yield reader.line_num, {k: (v or "").strip() for k, v in fields.items() if k}
