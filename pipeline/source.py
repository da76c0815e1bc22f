"""Read the Online Retail CSV (`.csv` or `.csv.gz`) as a stream of `SaleEvent`s, in bounded memory.

The file is ISO-8859-1 (latin-1) with CRLF line endings and minimal CSV quoting. Every byte
decodes in latin-1, so a wrongly encoded file would be read as mojibake without complaint; we
refuse the encodings that can be recognised instead (see docs/events.md, "Source file"):
  - a byte-order mark (UTF-8, UTF-16, UTF-32) at the start;
  - a NUL byte on any line (UTF-16/32 text or a binary file);
  - a line whose non-ASCII bytes form valid multi-byte UTF-8 (e.g. C2 A3, '£' in UTF-8): latin-1
    text practically never does, so such a line means the file was re-encoded as UTF-8.
Line numbers are physical line numbers of the file: the header is line 1, the first sale line 2.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from .events import InvalidEvent, SaleEvent, event_id, parse_event

HEADER = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)
_SOURCE_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2})")
_INTEGER = re.compile(r"-?\d{1,12}")
_BOMS = {
    b"\xef\xbb\xbf": "UTF-8",
    b"\xff\xfe": "UTF-16 (little-endian)",
    b"\xfe\xff": "UTF-16 (big-endian)",
}
_CHUNK = 1 << 20


class SourceError(ValueError):
    """The source file cannot be read as the Online Retail CSV; the message names file and line."""


class RowError(SourceError):
    def __init__(self, path: str, line_number: int, problems: list[str]):
        self.line_number = line_number
        self.problems = problems
        super().__init__(f"{path}, line {line_number}: " + "; ".join(problems))


@dataclass(frozen=True)
class SourceFile:
    path: Path
    digest: str
    """sha256 of the uncompressed bytes (hex); its first 16 digits prefix every event id."""

    @classmethod
    def open(cls, path: str | Path) -> SourceFile:
        """Digest the file and refuse it if it is not latin-1, before anything is sent: a UTF-8
        file whose first non-ASCII line comes late would otherwise be partly replayed."""
        path = Path(path)
        source = cls(path=path, digest=file_digest(path))
        _refuse_if_not_latin1(path)
        return source


def open_binary(path: str | Path) -> BinaryIO:
    """The uncompressed bytes of `path`; gzip is recognised by its magic number, not its name."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: no such file")
    raw = path.open("rb")
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    raw.seek(0)
    return raw


def file_digest(path: str | Path) -> str:
    """sha256 of the uncompressed content, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    try:
        with open_binary(path) as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except (OSError, EOFError) as exc:
        raise SourceError(f"{path}: cannot read ({exc})") from exc
    return digest.hexdigest()


def _refuse_if_not_latin1(path: Path) -> None:
    """`_checked_lines`' checks over the whole file; chunks of plain ASCII are passed at C speed."""
    carry, lines_before = b"", 0
    try:
        with open_binary(path) as stream:
            while True:
                chunk = stream.read(_CHUNK)
                data = carry + chunk
                cut = data.rfind(b"\n") + 1 if chunk else len(data)
                complete, carry = data[:cut], data[cut:]
                if complete and (b"\x00" in complete or not complete.isascii()):
                    for _ in _checked_lines(
                        io.BytesIO(complete), str(path), start=lines_before + 1
                    ):
                        pass
                lines_before += complete.count(b"\n")
                if not chunk:
                    return
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SourceError(f"{path}: cannot read ({exc})") from exc


def _checked_lines(stream: BinaryIO, path: str, start: int = 1) -> Iterator[str]:
    """Decode each raw line as latin-1 after refusing what is recognisably not latin-1 CSV."""
    for number, raw in enumerate(stream, start=start):
        if number == 1:
            for bom, name in _BOMS.items():
                if raw.startswith(bom):
                    raise SourceError(
                        f"{path}: starts with a {name} byte-order mark; the source must be "
                        "ISO-8859-1 (latin-1) CSV without a BOM"
                    )
        if b"\x00" in raw:
            raise SourceError(
                f"{path}, line {number}: contains a NUL byte; this is a binary or UTF-16/32 "
                "file, not ISO-8859-1 (latin-1) CSV"
            )
        if not raw.isascii() and _is_multibyte_utf8(raw):
            raise SourceError(
                f"{path}, line {number}: non-ASCII bytes form UTF-8 sequences, so the file is "
                "UTF-8 encoded; the source must be ISO-8859-1 (latin-1) "
                "(convert with: iconv -f UTF-8 -t ISO-8859-1)"
            )
        yield raw.decode("latin-1")


def _is_multibyte_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _check_header(row: list[str] | None, path: str) -> None:
    if row is None:
        raise SourceError(f"{path}: empty file, expected the header {','.join(HEADER)}")
    if tuple(row) != HEADER:
        raise SourceError(
            f"{path}, line 1: wrong header.\n  expected: {','.join(HEADER)}\n"
            f"  actual:   {','.join(row)}"
        )


def parse_source_date(text: str) -> datetime:
    """`M/D/YYYY H:MM` (no leading zeros, no seconds, shop-local time) -> naive datetime."""
    match = _SOURCE_DATE.fullmatch(text)
    if not match:
        raise ValueError(f"InvoiceDate {text!r} is not M/D/YYYY H:MM")
    month, day, year, hour, minute = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute)
    except ValueError as exc:
        raise ValueError(f"InvoiceDate {text!r}: {exc}") from None


def row_to_wire(row: list[str], ident: str) -> dict:
    """One CSV row -> the wire-form dict (before validation). Raises ValueError on bad fields."""
    if len(row) != len(HEADER):
        raise ValueError(f"expected {len(HEADER)} fields, got {len(row)}")
    (
        invoice_no,
        stock_code,
        description,
        quantity,
        invoice_date,
        unit_price,
        customer_id,
        country,
    ) = row
    if not _INTEGER.fullmatch(quantity):
        raise ValueError(f"Quantity {quantity!r} is not a whole number")
    return {
        "event_id": ident,
        "invoice_no": invoice_no,
        "stock_code": stock_code,
        "description": description or None,
        "quantity": int(quantity),
        "invoice_date": parse_source_date(invoice_date),
        "unit_price": unit_price,
        "customer_id": customer_id or None,
        "country": country,
    }


OnError = Callable[[RowError], None]


def read_events(
    source: SourceFile,
    *,
    skip: int = 0,
    limit: int | None = None,
    on_error: OnError | None = None,
) -> Iterator[SaleEvent]:
    """Yield the file's events in order, after skipping `skip` sale lines, at most `limit` of them.

    A line that breaks a rule raises `RowError` naming its line number, unless `on_error` is
    given: then it is reported there and reading continues. Blank lines carry no sale: skipped.
    """
    path = str(source.path)
    prefix = source.digest
    with open_binary(source.path) as stream:
        lines = _checked_lines(stream, path)
        reader = csv.reader(lines, strict=True)
        try:
            _check_header(next(reader, None), path)
            seen = produced = 0
            start = reader.line_num + 1
            for row in reader:
                line_number, start = start, reader.line_num + 1
                if not row:
                    continue
                seen += 1
                if seen <= skip:
                    continue
                if limit is not None and produced >= limit:
                    return
                try:
                    event = parse_event(row_to_wire(row, event_id(prefix, line_number)))
                except InvalidEvent as exc:
                    _fail(RowError(path, line_number, exc.problems), on_error)
                    continue
                except ValueError as exc:
                    _fail(RowError(path, line_number, [str(exc)]), on_error)
                    continue
                produced += 1
                yield event
        except csv.Error as exc:
            raise SourceError(f"{path}, line {reader.line_num}: malformed CSV ({exc})") from None
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise SourceError(f"{path}: cannot read ({exc})") from exc


def _fail(error: RowError, on_error: OnError | None) -> None:
    if on_error is None:
        raise error
    on_error(error)


def iter_batches(events: Iterator[SaleEvent], size: int) -> Iterator[list[SaleEvent]]:
    batch: list[SaleEvent] = []
    for event in events:
        batch.append(event)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


__all__ = [
    "HEADER",
    "RowError",
    "SourceError",
    "SourceFile",
    "file_digest",
    "iter_batches",
    "open_binary",
    "parse_source_date",
    "read_events",
    "row_to_wire",
]
