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
    default_message = (
        f"The first line must name the columns, each once: {','.join(CSV_COLUMNS)} "
        "(guardian_id_number may be left out)."
    )


class CsvMalformedError(IdentityError):
    code = "CSV_MALFORMED"
    default_message = "The file is not well-formed CSV."

    @classmethod
    def at(cls, line: int) -> CsvMalformedError:
        """The file stops being CSV at ``line`` (the data is never quoted)."""
        return cls(
            f"Line {line} is not well-formed CSV: a quote that does not close, a line break "
            "inside an unquoted field, or a field longer than 128 KiB. Nothing was imported."
        )


class RowFieldsError(IdentityError):
    code = "ROW_FIELDS"
    default_message = "The row does not have one field for each column of the first line."


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


#: (line where the row starts, its fields by column, or why the row cannot be read).
Row = tuple[int, dict[str, str] | IdentityError]


def read_csv(text: str) -> Iterator[Row]:
    """Each data row of the file; CsvHeaderError if the first line does not name the columns
    (each once, no others), CsvMalformedError where the file stops being well-formed CSV."""
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise CsvHeaderError() from None
    except csv.Error:
        raise CsvMalformedError.at(1) from None
    known = set(header)
    if len(known) != len(header) or not set(CSV_COLUMNS[:4]) <= known <= set(CSV_COLUMNS):
        raise CsvHeaderError()
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            raise CsvMalformedError.at(start) from None
        if not fields:
            continue  # a blank line
        if len(fields) != len(header):
            yield start, RowFieldsError()
        else:
            yield start, {k: v.strip() for k, v in zip(header, fields, strict=True)}
