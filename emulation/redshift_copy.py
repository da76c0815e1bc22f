"""Redshift's `COPY ... FROM 's3://...'`, run on PostgreSQL: list/read S3, load with COPY FROM STDIN.

How a COPY runs (one transaction, as on Redshift: all of it loads or none of it):
1. The source is resolved: every object whose key starts with the prefix, or the entries of a
   manifest (MANIFEST; a missing `mandatory` entry fails the COPY). No object at all fails it.
2. Each object is streamed (gunzipped when GZIP) into a temporary staging table with PostgreSQL's
   own `COPY FROM STDIN`: JSON lines as one text value per line, CSV parsed by PostgreSQL into
   text columns. Python never touches single rows on this path.
3. One `INSERT ... SELECT` converts the staged text to the table's types (JSON parsed once per
   line by `json_to_record`). If it fails, the bad records are found in SQL with PostgreSQL 16's
   `pg_input_is_valid` / `pg_input_error_info`, written to `localcloud.stl_load_errors` (kept even
   when the COPY then fails, as Redshift keeps STL_LOAD_ERRORS), and the good rows load when the
   number of bad records is within MAXERROR (Redshift's default 0: any bad record fails the COPY).

Known gaps vs AWS:
- JSON: one object per line (Redshift also accepts objects spanning lines); only JSON 'auto'
  (no JSONPaths file, no 'auto ignorecase'); nested values load as their JSON text.
- CSV: a structurally broken object (wrong field count, bad quoting, invalid UTF-8) is re-read in
  Python to find its bad lines, slower than the normal path; raw_line for a CSV type error is the
  fields re-joined, not the original bytes.
- Pipe-delimited text without CSV/JSON, SSH/EMR/DynamoDB sources, ACCEPTINVCHARS, FILLRECORD,
  TRUNCATECOLUMNS, ENCRYPTED, LZOP/BZIP2/ZSTD are refused by name.
- Credentials are not checked (moto does not authorise); TIMEFORMAT patterns go to PostgreSQL's
  `to_timestamp`, whose pattern language is close to, not identical with, Redshift's.
- JSON objects must be valid UTF-8 (an object that is not fails the COPY, naming it).
- Error codes in stl_load_errors are coarse (1200 type/format, 1201 JSON, 1202 structure).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import zlib
from dataclasses import dataclass

from psycopg import sql

from .redshift_copy_options import CopyCommand, CopyError, split_s3_url

log = logging.getLogger("localcloud.redshift")

CHUNK = 4 * 1024 * 1024
# JSON lines are staged as one CSV field: these bytes cannot occur in valid JSON text.
_FIELD_QUOTE, _FIELD_DELIM = "\x01", "\x02"
_TEXT_TYPES = ("character varying", "character", "text")


class LoadError(RuntimeError):
    """The COPY ran but too many records were bad (Redshift: 'Load into table ... failed')."""


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


def resolve_sources(s3, cmd: CopyCommand) -> list[str]:
    """The `s3://` URLs a COPY reads, in load order."""
    bucket, key = cmd.bucket_and_key
    if cmd.manifest:
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            raise CopyError(f"COPY: manifest {cmd.source} does not exist") from None
        try:
            entries = json.loads(body)["entries"]
        except (ValueError, KeyError, TypeError):
            raise CopyError(f"COPY: manifest {cmd.source} is not a Redshift manifest") from None
        urls = []
        for entry in entries:
            b, k = split_s3_url(entry["url"])
            if _exists(s3, b, k):
                urls.append(entry["url"])
            elif entry.get("mandatory", False):
                raise CopyError(f"COPY: mandatory manifest entry {entry['url']} does not exist")
        if not urls:
            raise CopyError(f"COPY: no file of manifest {cmd.source} exists")
        return urls
    urls = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        urls += [f"s3://{bucket}/{o['Key']}" for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    if not urls:
        raise CopyError(f"COPY: the specified S3 prefix '{key}' in bucket '{bucket}' holds no object")
    return urls


def _exists(s3, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except Exception:
        return False


def _chunks(s3, url: str, gzipped: bool):
    """The object's bytes, gunzipped when asked, in chunks (never the whole object in memory)."""
    bucket, key = split_s3_url(url)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    while True:
        data = body.read(CHUNK)
        if not data:
            break
        if inflate is not None:
            try:
                data = inflate.decompress(data)
                while inflate.unused_data:  # concatenated gzip members (gzip spec allows them)
                    rest = inflate.unused_data
                    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    data += inflate.decompress(rest)
            except zlib.error as exc:
                raise CopyError(f"COPY: {url} is not gzip data ({exc}); drop GZIP or fix the object") from None
        if data:
            yield data
    if inflate is not None:
        tail = inflate.flush()
        if tail:
            yield tail


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


class CopyRun:
    """One COPY statement against one PostgreSQL connection (inside the caller's transaction)."""

    def __init__(self, conn, s3, cmd: CopyCommand, *, label: str | None, error_sink):
        if cmd.format == "DELIMITED":
            raise CopyError("COPY without FORMAT JSON or CSV (pipe-delimited text) is not supported "
                            "by the Redshift stand-in")
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
                c for c in all_columns if c.name not in names and c.not_null and not self._has_default(cur, c)
            ]
            urls = resolve_sources(self.s3, cmd)
            self._create_stage(cur)
            for url in urls:
                self._stage(cur, url)
            if not self.pending_errors:
                try:
                    with self.conn.transaction():
                        cur.execute(self._fast_insert_sql())
                        return CopyResult(rows=cur.rowcount, errors=0, files=len(urls))
                except Exception as exc:  # some record does not fit: find them all
                    log.info("COPY %s: fast path failed (%s); locating bad records", cmd.table, exc)
            return self._load_with_errors(cur, len(urls))

    def _has_default(self, cur, column: Column) -> bool:
        cur.execute(
            "SELECT 1 FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
            "WHERE d.adrelid = to_regclass(%s) AND a.attname = %s", (self.cmd.table, column.name))
        return cur.fetchone() is not None

    # -- staging ---------------------------------------------------------------------------
    def _create_stage(self, cur) -> None:
        cur.execute("DROP TABLE IF EXISTS pg_temp.copy_stage")
        cur.execute("DROP TABLE IF EXISTS pg_temp.copy_bad")
        if self.cmd.format == "JSON":
            fields = sql.SQL("raw text")
        else:
            fields = sql.SQL(", ").join(
                sql.SQL("{} text").format(sql.Identifier(f"f{i}")) for i in range(len(self.columns))
            )
        cur.execute(sql.SQL(
            "CREATE TEMP TABLE copy_stage (seq bigserial, line_no bigint, {}) ON COMMIT DROP"
        ).format(fields))

    def _stage(self, cur, url: str) -> None:
        cmd = self.cmd
        if cmd.format == "JSON":
            stmt = sql.SQL("COPY pg_temp.copy_stage (raw) FROM STDIN (FORMAT csv, DELIMITER {}, QUOTE {})").format(
                sql.Literal(_FIELD_DELIM), sql.Literal(_FIELD_QUOTE))
        else:
            stmt = sql.SQL("COPY pg_temp.copy_stage ({}) FROM STDIN (FORMAT csv, DELIMITER {}, QUOTE {}, NULL {})").format(
                self._stage_fields(), sql.Literal(cmd.delimiter), sql.Literal(cmd.quote), sql.Literal(cmd.null_as))
        try:
            with self.conn.transaction():
                with cur.copy(stmt) as copy:
                    for data in self._lines_after_header(url):
                        if cmd.format == "JSON":
                            data = _json_safe(data)
                        copy.write(data)
                self._record_file(cur, url)
        except CopyError:
            raise
        except Exception as exc:
            if cmd.format == "JSON":
                raise CopyError(f"COPY: {url} could not be read as text ({exc})") from exc
            log.info("COPY %s: %s is not clean CSV (%s); reading it line by line", cmd.table, url, exc)
            self._stage_csv_slowly(cur, url)

    def _stage_fields(self):
        return sql.SQL(", ").join(sql.Identifier(f"f{i}") for i in range(len(self.columns)))

    def _lines_after_header(self, url: str):
        skip = self.cmd.ignore_header
        for data in _chunks(self.s3, url, self.cmd.gzip):
            while skip and data:
                cut = data.find(b"\n")
                if cut < 0:
                    data = b""
                    break
                data, skip = data[cut + 1:], skip - 1
            if data:
                yield data

    def _record_file(self, cur, url: str) -> None:
        rows = cur.rowcount
        if rows > 0:
            cur.execute("SELECT currval(pg_get_serial_sequence('pg_temp.copy_stage', 'seq'))")
            last = cur.fetchone()[0]
            self.files.append((last - rows + 1, rows, url))

    def _stage_csv_slowly(self, cur, url: str) -> None:
        """CSV PostgreSQL refused: parse in Python, stage good lines, report the others."""
        cmd = self.cmd
        raw = b"".join(_chunks(self.s3, url, cmd.gzip))
        lines = raw.split(b"\n")
        errors, good = [], []
        for number, line in enumerate(lines, start=1):
            if number <= cmd.ignore_header or not line.strip(b"\r"):
                continue
            try:
                text = line.rstrip(b"\r").decode("utf-8")
                fields = next(csv.reader([text], delimiter=cmd.delimiter, quotechar=cmd.quote, strict=True))
            except (UnicodeDecodeError, csv.Error) as exc:
                errors.append(self._error(url, number, "", line, "", 1202, f"Invalid line: {exc}"))
                continue
            if len(fields) != len(self.columns):
                errors.append(self._error(url, number, "", line, "", 1202,
                                          f"Delimiter not found / extra column(s): {len(fields)} fields for "
                                          f"{len(self.columns)} columns"))
                continue
            good.append((number, [None if f == cmd.null_as else f for f in fields]))
        with cur.copy(sql.SQL("COPY pg_temp.copy_stage (line_no, {}) FROM STDIN").format(self._stage_fields())) as copy:
            for number, fields in good:
                copy.write_row([number, *fields])
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
            defs = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c.name)) for c in self.columns)
            return sql.SQL("pg_temp.copy_stage s CROSS JOIN LATERAL json_to_record(s.raw::json) AS r({})").format(defs)
        return sql.SQL("pg_temp.copy_stage s")

    def _rows_filter(self) -> sql.Composable:
        # Blank lines are whitespace between JSON objects on Redshift.
        return sql.SQL("s.raw IS NOT NULL AND btrim(s.raw) <> ''" if self.cmd.format == "JSON" else "TRUE")

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
        fmt = cmd.time_format if column.type.startswith("timestamp") else (
            cmd.date_format if column.type == "date" else None)
        if fmt and fmt.lower() == "epochsecs":
            return sql.SQL("(to_timestamp(({})::double precision) AT TIME ZONE 'UTC')").format(source)
        if fmt and fmt.lower() == "epochmillisecs":
            return sql.SQL("(to_timestamp(({})::double precision / 1000) AT TIME ZONE 'UTC')").format(source)
        if fmt and fmt.lower() != "auto":
            return sql.SQL("CAST(to_timestamp({}, {}) AS {})").format(source, sql.Literal(fmt), sql.SQL(column.type))
        return sql.SQL("CAST({} AS {})").format(source, sql.SQL(column.base_type))

    def _fast_insert_sql(self) -> sql.Composable:
        """JSON: `json_populate_record` parses each line once straight into the column types
        (measurably faster than text extraction plus casts); CSV: the casting insert."""
        if self.cmd.format != "JSON":
            return self._insert_sql(where=sql.SQL("TRUE"))
        with self.conn.cursor() as cur:
            shape = sql.SQL(", ").join(
                sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL("text" if self._formatted(c) else c.type))
                for c in self.columns)
            cur.execute("DROP TABLE IF EXISTS pg_temp.copy_shape")
            cur.execute(sql.SQL("CREATE TEMP TABLE copy_shape ({}) ON COMMIT DROP").format(shape))
        values = sql.SQL(", ").join(
            self._value(c, sql.SQL("r.{}").format(sql.Identifier(c.name))) if self._formatted(c)
            else sql.SQL("r.{}").format(sql.Identifier(c.name)) for c in self.columns)
        return sql.SQL(
            "INSERT INTO {} ({}) SELECT {} FROM pg_temp.copy_stage s CROSS JOIN LATERAL "
            "json_populate_record(NULL::pg_temp.copy_shape, s.raw::json) AS r WHERE {}").format(
            sql.SQL(self.cmd.table), sql.SQL(", ").join(sql.Identifier(c.name) for c in self.columns),
            values, self._rows_filter())

    def _formatted(self, column: Column) -> bool:
        """A timestamp/date column with an explicit (non-'auto') TIMEFORMAT/DATEFORMAT."""
        fmt = self.cmd.time_format if column.type.startswith("timestamp") else (
            self.cmd.date_format if column.type == "date" else None)
        return bool(fmt) and fmt.lower() != "auto"

    def _insert_sql(self, where: sql.Composable) -> sql.Composable:
        values = sql.SQL(", ").join(self._value(c, e) for c, e in zip(self.columns, self._source_exprs()))
        return sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE {} AND {}").format(
            sql.SQL(self.cmd.table), sql.SQL(", ").join(sql.Identifier(c.name) for c in self.columns),
            values, self._from_clause(), self._rows_filter(), where)

    # -- the slow path: find every bad record ---------------------------------------------
    def _load_with_errors(self, cur, file_count: int) -> CopyResult:
        checks = self._check_exprs()
        from_clause = self._from_clause()
        if self.cmd.format == "JSON":  # a line that is not a JSON object never reaches json_to_record
            cur.execute(
                "CREATE TEMP TABLE copy_bad ON COMMIT DROP AS SELECT seq, line_no, NULL::text AS colname, "
                "raw AS raw_line, left(raw, 1024) AS raw_value, 1201 AS code, "
                "COALESCE((pg_input_error_info(raw, 'json')).message, 'Invalid JSON: not an object') AS reason "
                "FROM pg_temp.copy_stage s WHERE s.raw IS NOT NULL AND btrim(s.raw) <> '' AND "
                "(NOT pg_input_is_valid(raw, 'json') OR json_typeof(raw::json) <> 'object')")
            cur.execute("DELETE FROM pg_temp.copy_stage WHERE seq IN (SELECT seq FROM pg_temp.copy_bad)")
        else:
            cur.execute("CREATE TEMP TABLE copy_bad (seq bigint, line_no bigint, colname text, raw_line text, "
                        "raw_value text, code int, reason text) ON COMMIT DROP")
        raw_line = sql.SQL("s.raw") if self.cmd.format == "JSON" else sql.SQL("concat_ws({}, {})").format(
            sql.Literal(self.cmd.delimiter), sql.SQL(", ").join(self._source_exprs()))
        for column, source, check in checks:
            cur.execute(sql.SQL(
                "INSERT INTO pg_temp.copy_bad SELECT s.seq, s.line_no, {}, {}, left({}, 1024), 1200, {} FROM {} "
                "WHERE {} AND s.seq NOT IN (SELECT seq FROM pg_temp.copy_bad) AND ({})"
            ).format(sql.Literal(column.name), raw_line, source, self._reason(column, source), from_clause,
                     self._rows_filter(), check))
        cur.execute("SELECT count(*) FROM pg_temp.copy_bad")
        bad = cur.fetchone()[0] + len(self.pending_errors)
        self._report(cur)
        if bad > self.cmd.max_error:
            raise LoadError(
                f"Load into table '{self.cmd.table}' failed: {bad} bad record(s), MAXERROR is "
                f"{self.cmd.max_error}. Check 'localcloud.stl_load_errors' for details.")
        cur.execute(self._insert_sql(where=sql.SQL("s.seq NOT IN (SELECT seq FROM pg_temp.copy_bad)")))
        return CopyResult(rows=cur.rowcount, errors=bad, files=file_count)

    def _check_exprs(self):
        out = []
        for column, source in zip(self.columns, self._source_exprs()):
            value = self._value(column, source)
            if column.not_null:
                out.append((column, source, sql.SQL("({}) IS NULL").format(value if self.cmd.format == "CSV" else source)))
            if column.type.startswith("timestamp") or column.type == "date":
                ok = sql.SQL("localcloud.is_valid_value({}, {}, {})").format(
                    source, sql.Literal(column.type), sql.Literal(self.cmd.time_format or "auto"))
            else:
                ok = sql.SQL("pg_input_is_valid({}, {})").format(source, sql.Literal(column.type))
            out.append((column, source, sql.SQL("{} IS NOT NULL AND {} <> '' AND NOT {}").format(source, source, ok)
                        if self.cmd.format == "CSV" and not column.type.startswith(_TEXT_TYPES)
                        else sql.SQL("{} IS NOT NULL AND NOT {}").format(source, ok)))
        for column in self.missing_not_null:
            out.append((column, sql.SQL("NULL::text"), sql.SQL("TRUE")))
        return out

    def _reason(self, column: Column, source) -> sql.Composable:
        return sql.SQL(
            "CASE WHEN {src} IS NULL OR {src} = '' THEN 'Missing data for not-null field' "
            "ELSE COALESCE((pg_input_error_info({src}, {typ})).message, 'Invalid value for type ' || {typ}) END"
        ).format(src=source, typ=sql.Literal(column.type))

    def _report(self, cur) -> None:
        cur.execute("SELECT seq, line_no, colname, raw_line, raw_value, code, reason FROM pg_temp.copy_bad ORDER BY seq")
        errors = list(self.pending_errors)
        types = {c.name: c.type for c in self.columns}
        for seq, line_no, colname, raw_line, raw_value, code, reason in cur.fetchall():
            url, number = self._locate(seq, line_no)
            errors.append(self._error(url, number, colname or "", raw_line, raw_value or "", code, reason,
                                      types.get(colname or "", "")))
        self.error_sink(errors)

    def _locate(self, seq: int, line_no: int | None) -> tuple[str, int]:
        for first, rows, url in self.files:
            if line_no is not None and first == -1:
                return url, line_no
            if first <= seq < first + rows:
                return url, seq - first + 1 + self.cmd.ignore_header
        return "", line_no or 0

    def _error(self, url, line, colname, raw_line, raw_value, code, reason, col_type="") -> dict:
        if isinstance(raw_line, bytes):
            raw_line = raw_line.decode("utf-8", "replace")
        return {"tbl": self.cmd.table, "filename": url, "line_number": line, "colname": colname,
                "type": col_type, "raw_line": (raw_line or "")[:1024], "raw_field_value": raw_value[:1024],
                "err_code": code, "err_reason": reason[:512], "label": self.label}


def _json_safe(data: bytes) -> bytes:
    """Keep a JSON line one staged field: the field bytes can only occur in malformed JSON."""
    if b"\x01" in data or b"\x02" in data:
        data = data.replace(b"\x01", b"\x1a").replace(b"\x02", b"\x1a")
    if b"\r" in data:  # a CR is JSON whitespace; PostgreSQL's CSV reader would see a line end
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b" ")
    return data


def gzip_bytes(data: bytes) -> bytes:
    """gzip at a fast level (Firehose's intermediate objects and the tests use it)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=1, mtime=0) as f:
        f.write(data)
    return buf.getvalue()
