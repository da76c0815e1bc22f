"""Redshift's `COPY ... FROM 's3://...'`, run on PostgreSQL: list/read S3, load with COPY FROM STDIN.

How a COPY runs (one transaction, as on Redshift: all of it loads or none of it):
1. The source is resolved: every object whose key starts with the prefix, or the entries of a
   manifest (MANIFEST; a missing `mandatory` entry fails the COPY). No object at all fails it.
2. JSON 'auto' first takes the direct path: objects are read ahead and gunzipped in a thread
   (`emulation.redshift.copy_source`), converted to CSV rows and copied straight into the table;
   PostgreSQL's type input functions check every value. The conversion is first pyarrow's JSON
   reader with the table's schema (`emulation.redshift.copy_arrow`); data it does not take
   exactly rolls it back (a savepoint) and the conversion runs again in Python with orjson
   (`emulation.redshift.copy_json`). Anything that cannot reproduce exactly, and any record
   PostgreSQL refuses, rolls it back and the COPY runs on the SQL path below, the reference.
3. SQL path: each object is streamed into a temporary staging table with PostgreSQL's own
   `COPY FROM STDIN`: JSON lines as one text value per line, CSV parsed by PostgreSQL into
   text columns. Python never touches single rows on this path.
4. One `INSERT ... SELECT` converts the staged text to the table's types (JSON parsed once per
   line by `json_populate_record`). If it fails, the bad records are found in SQL with PostgreSQL 16's
   `pg_input_is_valid` / `pg_input_error_info`, written to `localcloud.stl_load_errors` (kept even
   when the COPY then fails, as Redshift keeps STL_LOAD_ERRORS), and the good rows load when the
   number of bad records is within MAXERROR (Redshift's default 0: any bad record fails the COPY).

Known gaps vs AWS: in the package docstring (`emulation.redshift`).
"""

from __future__ import annotations

import contextlib
import csv
import logging
from dataclasses import dataclass

from psycopg import sql
from psycopg.copy import QueuedLibpqWriter

from . import copy_json as fast_json
from .copy_arrow import ArrowJsonLines, NotForArrow
from .copy_errors import TEXT_TYPES as _TEXT_TYPES
from .copy_errors import BadRecords, LoadError
from .copy_options import CopyCommand, CopyError
from .copy_source import gzip_bytes, object_chunks, read_ahead, resolve_sources

__all__ = ["CopyResult", "CopyRun", "LoadError", "gzip_bytes", "resolve_sources", "table_columns"]

log = logging.getLogger("localcloud.redshift")

# JSON lines are staged as one CSV field: these bytes cannot occur in valid JSON text.
_FIELD_QUOTE, _FIELD_DELIM = "\x01", "\x02"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    """Full type with modifiers, e.g. `character varying(32)`, `numeric(18,6)`."""
    not_null: bool

    @property
    def base_type(self) -> str:
        return "text" if self.type.startswith(_TEXT_TYPES) else self.type


@dataclass
class CopyResult:
    rows: int
    errors: int
    files: int


def table_columns(cur, table: str) -> list[Column]:
    cur.execute(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
           FROM pg_attribute a WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0
           AND NOT a.attisdropped ORDER BY a.attnum""",
        (table,),
    )
    rows = cur.fetchall()
    if not rows:
        raise CopyError(f"COPY: table {table} does not exist (or you may not see it)")
    return [Column(n, t, nn) for n, t, nn in rows]


class CopyRun(BadRecords):
    """One COPY statement against one PostgreSQL connection (inside the caller's transaction)."""

    def __init__(
        self,
        conn,
        s3,
        cmd: CopyCommand,
        *,
        label: str | None,
        error_sink,
        direct_json: bool = True,
        direct_arrow: bool = True,
    ):
        # direct_json: JSON is converted in Python and copied straight into the table when it can
        # be (False: always through SQL; `python -m bench warehouse --sql-path` measures that path).
        # direct_arrow: pyarrow converts first (False: orjson only; the bench compares them).
        self.direct_json, self.direct_arrow = direct_json, direct_arrow
        if cmd.format == "DELIMITED":
            raise CopyError(
                "COPY without FORMAT JSON or CSV (pipe-delimited text) is not supported "
                "by the Redshift stand-in"
            )
        self.conn, self.s3, self.cmd, self.label = conn, s3, cmd, label
        self.error_sink = error_sink
        self.files: list[tuple[int, int, str]] = []  # (first_seq, rows, url)
        self.pending_errors: list[dict] = []  # found while staging (CSV structure)

    def run(self) -> CopyResult:
        cmd = self.cmd
        with self.conn.cursor() as cur:
            all_columns = table_columns(cur, cmd.table)
            by_name = {c.name: c for c in all_columns}
            names = cmd.columns or tuple(c.name for c in all_columns)
            unknown = [n for n in names if n not in by_name]
            if unknown:
                raise CopyError(f"COPY: column(s) {', '.join(unknown)} not in table {cmd.table}")
            self.columns = [by_name[n] for n in names]
            self.missing_not_null = [
                c
                for c in all_columns
                if c.name not in names and c.not_null and not self._has_default(cur, c)
            ]
            urls = resolve_sources(self.s3, cmd)
            for converter in self._direct_converters():
                try:
                    with self.conn.transaction():
                        rows = self._copy_json_direct(cur, urls, converter)
                        return CopyResult(rows=rows, errors=0, files=len(urls))
                except NotForArrow as exc:
                    log.info("COPY %s: %s; converting with orjson", cmd.table, exc)
                    continue
                except fast_json.NeedsSqlPath as exc:
                    log.info("COPY %s: %s; loading through SQL", cmd.table, exc)
                except CopyError:
                    raise
                except Exception as exc:  # noqa: BLE001 - a record does not fit: the SQL path finds and reports it
                    log.info(
                        "COPY %s: direct load failed (%s); loading through SQL", cmd.table, exc
                    )
                break
            self._create_stage(cur)
            for url in urls:
                self._stage(cur, url)
            if not self.pending_errors:
                try:
                    with self.conn.transaction():
                        cur.execute(self._fast_insert_sql())
                        return CopyResult(rows=cur.rowcount, errors=0, files=len(urls))
                except Exception as exc:  # noqa: BLE001 - some record does not fit: find them all
                    log.info("COPY %s: fast path failed (%s); locating bad records", cmd.table, exc)
            rows, bad = self._load_with_errors(cur)
            return CopyResult(rows=rows, errors=bad, files=len(urls))

    def _has_default(self, cur, column: Column) -> bool:
        cur.execute(
            "SELECT 1 FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE d.adrelid = to_regclass(%s) AND a.attname = %s",
            (self.cmd.table, column.name),
        )
        return cur.fetchone() is not None

    # -- the fast path: JSON converted in Python, COPY straight into the table ----------------
    def _fast_json_applies(self) -> bool:
        return (
            self.direct_json
            and self.cmd.format == "JSON"
            and not self.missing_not_null
            and not any(self._formatted(c) for c in self.columns)
            and fast_json.fits_fast_path([c.type for c in self.columns])
        )

    def _direct_converters(self) -> list:
        """The direct paths to try in turn: pyarrow (whole slices in C++), then orjson (per line)."""
        if not self._fast_json_applies():
            return []
        names = [c.name for c in self.columns]
        arrow = (
            ArrowJsonLines.for_columns(names, [c.type for c in self.columns])
            if self.direct_arrow
            else None
        )
        return [arrow, fast_json.JsonLines(names)] if arrow else [fast_json.JsonLines(names)]

    def _copy_json_direct(self, cur, urls: list[str], converter) -> int:
        options = getattr(converter, "copy_options", None) or fast_json.copy_options_sql()
        stmt = sql.SQL("COPY {} ({}) FROM STDIN {}").format(
            sql.SQL(self.cmd.table),
            sql.SQL(", ").join(sql.Identifier(c.name) for c in self.columns),
            sql.SQL(options),
        )
        # The reader thread stops as soon as this path gives up (closing), before the SQL path reads.
        with (
            contextlib.closing(read_ahead(self.s3, urls, self.cmd)) as pieces,
            cur.copy(stmt, writer=QueuedLibpqWriter(cur)) as copy,
        ):  # PostgreSQL parses while Python converts
            for text in fast_json.line_slices(pieces, getattr(converter, "slice_bytes", 64 * 1024)):
                rows = converter.convert(text)
                if rows:
                    copy.write(rows)
        return cur.rowcount

    # -- staging ---------------------------------------------------------------------------
    def _create_stage(self, cur) -> None:
        cur.execute("DROP TABLE IF EXISTS pg_temp.copy_stage")
        cur.execute("DROP TABLE IF EXISTS pg_temp.copy_bad")
        fields: sql.Composable
        if self.cmd.format == "JSON":
            fields = sql.SQL("raw text")
        else:
            fields = sql.SQL(", ").join(
                sql.SQL("{} text").format(sql.Identifier(f"f{i}")) for i in range(len(self.columns))
            )
        cur.execute(
            sql.SQL(
                "CREATE TEMP TABLE copy_stage (seq bigserial, line_no bigint, {}) ON COMMIT DROP"
            ).format(fields)
        )

    def _stage(self, cur, url: str) -> None:
        cmd = self.cmd
        if cmd.format == "JSON":
            stmt = sql.SQL(
                "COPY pg_temp.copy_stage (raw) FROM STDIN (FORMAT csv, DELIMITER {}, QUOTE {})"
            ).format(sql.Literal(_FIELD_DELIM), sql.Literal(_FIELD_QUOTE))
        else:
            stmt = sql.SQL(
                "COPY pg_temp.copy_stage ({}) FROM STDIN (FORMAT csv, DELIMITER {}, QUOTE {}, NULL {})"
            ).format(
                self._stage_fields(),
                sql.Literal(cmd.delimiter),
                sql.Literal(cmd.quote),
                sql.Literal(cmd.null_as),
            )
        try:
            with self.conn.transaction():
                with cur.copy(stmt) as copy:
                    chunks = object_chunks(self.s3, url, cmd.gzip, cmd.ignore_header)
                    for data in self._utf8_lines(url, chunks) if cmd.format == "JSON" else chunks:
                        if cmd.format == "JSON":
                            data = _json_safe(data)
                        copy.write(data)
                self._record_file(cur, url)
        except CopyError:
            raise
        except Exception as exc:
            if cmd.format == "JSON":
                raise CopyError(f"COPY: {url} could not be read as text ({exc})") from exc
            log.info(
                "COPY %s: %s is not clean CSV (%s); reading it line by line", cmd.table, url, exc
            )
            self._stage_csv_slowly(cur, url)

    def _stage_fields(self):
        return sql.SQL(", ").join(sql.Identifier(f"f{i}") for i in range(len(self.columns)))

    def _record_file(self, cur, url: str) -> None:
        rows = cur.rowcount
        if rows > 0:
            cur.execute("SELECT currval(pg_get_serial_sequence('pg_temp.copy_stage', 'seq'))")
            last = cur.fetchone()[0]
            self.files.append((last - rows + 1, rows, url))

    def _utf8_lines(self, url: str, chunks):
        """Whole lines; one that is not valid UTF-8 becomes a load error and a blank line."""
        carry, lines_before = b"", self.cmd.ignore_header
        for data in chunks:
            data = carry + data
            cut = data.rfind(b"\n") + 1
            complete, carry = data[:cut], data[cut:]
            if complete:
                yield self._blank_invalid_utf8(url, complete, lines_before)
                lines_before += complete.count(b"\n")
        if carry:
            yield self._blank_invalid_utf8(url, carry, lines_before)

    def _blank_invalid_utf8(self, url: str, data: bytes, lines_before: int) -> bytes:
        try:
            data.decode("utf-8")
            return data
        except UnicodeDecodeError:
            pass
        lines = data.split(b"\n")
        for i, line in enumerate(lines):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = line[exc.start : exc.end].hex(" ")
                self.pending_errors.append(
                    self._error(
                        url,
                        lines_before + i + 1,
                        "",
                        line,
                        "",
                        1220,
                        f"String contains invalid or unsupported UTF8 codepoints. Bad UTF8 hex sequence: {bad}",
                    )
                )
                lines[i] = b""
        return b"\n".join(lines)

    def _stage_csv_slowly(self, cur, url: str) -> None:
        """CSV PostgreSQL refused: parse in Python, stage good lines, report the others."""
        cmd = self.cmd
        raw = b"".join(object_chunks(self.s3, url, cmd.gzip))
        lines = raw.split(b"\n")
        if cmd.delimiter is None:
            raise CopyError("COPY's delimiter was never parsed")  # parse_copy always sets it
        errors: list = []
        good: list[tuple[int, list[str | None]]] = []
        for number, line in enumerate(lines, start=1):
            if number <= cmd.ignore_header or not line.strip(b"\r"):
                continue
            try:
                text = line.rstrip(b"\r").decode("utf-8")
                fields = next(
                    csv.reader([text], delimiter=cmd.delimiter, quotechar=cmd.quote, strict=True)
                )
            except (UnicodeDecodeError, csv.Error) as exc:
                errors.append(self._error(url, number, "", line, "", 1202, f"Invalid line: {exc}"))
                continue
            if len(fields) != len(self.columns):
                errors.append(
                    self._error(
                        url,
                        number,
                        "",
                        line,
                        "",
                        1202,
                        f"Delimiter not found / extra column(s): {len(fields)} fields for "
                        f"{len(self.columns)} columns",
                    )
                )
                continue
            good.append((number, [None if f == cmd.null_as else f for f in fields]))
        with cur.copy(
            sql.SQL("COPY pg_temp.copy_stage (line_no, {}) FROM STDIN").format(self._stage_fields())
        ) as copy:
            for number, staged in good:
                copy.write_row([number, *staged])
        self.files.append((-1, len(good), url))
        self.pending_errors += errors

    # -- conversion ------------------------------------------------------------------------
    def _source_exprs(self) -> list[sql.Composable]:
        """The text value of each target column, as staged."""
        if self.cmd.format == "JSON":
            return [sql.SQL("r.{}").format(sql.Identifier(c.name)) for c in self.columns]
        return [sql.SQL("s.{}").format(sql.Identifier(f"f{i}")) for i in range(len(self.columns))]

    def _from_clause(self) -> sql.Composable:
        if self.cmd.format == "JSON":
            defs = sql.SQL(", ").join(
                sql.SQL("{} text").format(sql.Identifier(c.name)) for c in self.columns
            )
            return sql.SQL(
                "pg_temp.copy_stage s CROSS JOIN LATERAL json_to_record(s.raw::json) AS r({})"
            ).format(defs)
        return sql.SQL("pg_temp.copy_stage s")

    def _rows_filter(self) -> sql.Composable:
        # Blank lines are whitespace between JSON objects on Redshift.
        return sql.SQL(
            "s.raw IS NOT NULL AND btrim(s.raw) <> ''" if self.cmd.format == "JSON" else "TRUE"
        )

    def _value(self, column: Column, source: sql.Composable) -> sql.Composable:
        cmd = self.cmd
        text = column.type.startswith(_TEXT_TYPES)
        if cmd.format == "CSV":
            if text and cmd.empty_as_null:
                source = sql.SQL("NULLIF({}, '')").format(source)
            if text and cmd.blanks_as_null:
                source = sql.SQL("NULLIF(btrim({}), '')").format(source)
            if not text:  # Redshift loads an empty non-character field as NULL
                source = sql.SQL("NULLIF({}, '')").format(source)
        fmt = (
            cmd.time_format
            if column.type.startswith("timestamp")
            else (cmd.date_format if column.type == "date" else None)
        )
        if fmt and fmt.lower() == "epochsecs":
            return sql.SQL("(to_timestamp(({})::double precision) AT TIME ZONE 'UTC')").format(
                source
            )
        if fmt and fmt.lower() == "epochmillisecs":
            return sql.SQL(
                "(to_timestamp(({})::double precision / 1000) AT TIME ZONE 'UTC')"
            ).format(source)
        if fmt and fmt.lower() != "auto":
            return sql.SQL("CAST(to_timestamp({}, {}) AS {})").format(
                source, sql.Literal(fmt), sql.SQL(column.type)
            )
        return sql.SQL("CAST({} AS {})").format(source, sql.SQL(column.base_type))

    def _fast_insert_sql(self) -> sql.Composable:
        """JSON: `json_populate_record` parses each line once straight into the column types
        (measurably faster than text extraction plus casts); CSV: the casting insert."""
        if self.cmd.format != "JSON":
            return self._insert_sql(where=sql.SQL("TRUE"))
        with self.conn.cursor() as cur:
            shape = sql.SQL(", ").join(
                sql.SQL("{} {}").format(
                    sql.Identifier(c.name), sql.SQL("text" if self._formatted(c) else c.type)
                )
                for c in self.columns
            )
            cur.execute("DROP TABLE IF EXISTS pg_temp.copy_shape")
            cur.execute(sql.SQL("CREATE TEMP TABLE copy_shape ({}) ON COMMIT DROP").format(shape))
        values = sql.SQL(", ").join(
            self._value(c, sql.SQL("r.{}").format(sql.Identifier(c.name)))
            if self._formatted(c)
            else sql.SQL("r.{}").format(sql.Identifier(c.name))
            for c in self.columns
        )
        return sql.SQL(
            "INSERT INTO {} ({}) SELECT {} FROM pg_temp.copy_stage s CROSS JOIN LATERAL "
            "json_populate_record(NULL::pg_temp.copy_shape, s.raw::json) AS r WHERE {}"
        ).format(
            sql.SQL(self.cmd.table),
            sql.SQL(", ").join(sql.Identifier(c.name) for c in self.columns),
            values,
            self._rows_filter(),
        )

    def _formatted(self, column: Column) -> bool:
        """A timestamp/date column with an explicit (non-'auto') TIMEFORMAT/DATEFORMAT."""
        fmt = (
            self.cmd.time_format
            if column.type.startswith("timestamp")
            else (self.cmd.date_format if column.type == "date" else None)
        )
        return bool(fmt and fmt.lower() != "auto")

    def _insert_sql(self, where: sql.Composable) -> sql.Composable:
        values = sql.SQL(", ").join(
            self._value(c, e) for c, e in zip(self.columns, self._source_exprs())
        )
        return sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE {} AND {}").format(
            sql.SQL(self.cmd.table),
            sql.SQL(", ").join(sql.Identifier(c.name) for c in self.columns),
            values,
            self._from_clause(),
            self._rows_filter(),
            where,
        )


def _json_safe(data: bytes) -> bytes:
    """Keep a JSON line one staged field: the field bytes can only occur in malformed JSON."""
    if b"\x01" in data or b"\x02" in data:
        data = data.replace(b"\x01", b"\x1a").replace(b"\x02", b"\x1a")
    if b"\r" in data:  # a CR is JSON whitespace; PostgreSQL's CSV reader would see a line end
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b" ")
    return data
