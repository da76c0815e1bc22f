"""Bad records of a Redshift COPY on the stand-in: found in SQL, reported, counted against MAXERROR.

When the typed insert of the staged rows fails (emulation.redshift.copy), every bad record is
found with PostgreSQL 16's `pg_input_is_valid` / `pg_input_error_info`, one check per column,
and written to `localcloud.stl_load_errors` through the connection's error sink (kept even when
the COPY then fails, as Redshift keeps STL_LOAD_ERRORS). Within MAXERROR the other rows load;
beyond it the COPY fails with `LoadError` and nothing loads.

Known gaps vs AWS: in the package docstring (`emulation.redshift`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import sql

if TYPE_CHECKING:
    from .copy_options import CopyCommand

TEXT_TYPES = ("character varying", "character", "text")


class LoadError(RuntimeError):
    """The COPY ran but too many records were bad (Redshift: 'Load into table ... failed')."""


class BadRecords:
    """The bad-record half of `CopyRun` (it provides cmd, columns, files, pending_errors, label,
    error_sink and the SQL builders `_value`, `_source_exprs`, `_from_clause`, `_rows_filter`,
    `_insert_sql`)."""

    if TYPE_CHECKING:  # what CopyRun provides
        cmd: CopyCommand
        columns: list[Any]
        files: list[tuple[int, int, str]]
        pending_errors: list[dict]
        label: str | None
        error_sink: Any

        def _source_exprs(self) -> list[sql.Composable]: ...
        def _from_clause(self) -> sql.Composable: ...
        def _rows_filter(self) -> sql.Composable: ...
        def _insert_sql(self, where: sql.Composable) -> sql.Composable: ...

    def _load_with_errors(self, cur) -> tuple[int, int]:
        """Find every bad record, report them all, then load the rest: (rows loaded, bad records)."""
        checks = self._check_exprs()
        from_clause = self._from_clause()
        if (
            self.cmd.format == "JSON"
        ):  # a line that is not a JSON object never reaches json_to_record
            cur.execute(
                "CREATE TEMP TABLE copy_bad ON COMMIT DROP AS SELECT seq, line_no, NULL::text AS colname, "
                "raw AS raw_line, left(raw, 1024) AS raw_value, 1201 AS code, "
                "COALESCE((pg_input_error_info(raw, 'json')).message, 'Invalid JSON: not an object') AS reason "
                "FROM pg_temp.copy_stage s WHERE s.raw IS NOT NULL AND btrim(s.raw) <> '' AND "
                "(NOT pg_input_is_valid(raw, 'json') OR json_typeof(raw::json) <> 'object')"
            )
            cur.execute(
                "DELETE FROM pg_temp.copy_stage WHERE seq IN (SELECT seq FROM pg_temp.copy_bad)"
            )
        else:
            cur.execute(
                "CREATE TEMP TABLE copy_bad (seq bigint, line_no bigint, colname text, raw_line text, "
                "raw_value text, code int, reason text) ON COMMIT DROP"
            )
        raw_line = (
            sql.SQL("s.raw")
            if self.cmd.format == "JSON"
            else sql.SQL("concat_ws({}, {})").format(
                sql.Literal(self.cmd.delimiter), sql.SQL(", ").join(self._source_exprs())
            )
        )
        for column, source, check in checks:
            cur.execute(
                sql.SQL(
                    "INSERT INTO pg_temp.copy_bad SELECT s.seq, s.line_no, {}, {}, left({}, 1024), 1200, {} FROM {} "
                    "WHERE {} AND s.seq NOT IN (SELECT seq FROM pg_temp.copy_bad) AND ({})"
                ).format(
                    sql.Literal(column.name),
                    raw_line,
                    source,
                    self._reason(column, source),
                    from_clause,
                    self._rows_filter(),
                    check,
                )
            )
        cur.execute("SELECT count(*) FROM pg_temp.copy_bad")
        bad = cur.fetchone()[0] + len(self.pending_errors)
        self._report(cur)
        if bad > self.cmd.max_error:
            raise LoadError(
                f"Load into table '{self.cmd.table}' failed: {bad} bad record(s), MAXERROR is "
                f"{self.cmd.max_error}. Check 'localcloud.stl_load_errors' for details."
            )
        cur.execute(
            self._insert_sql(where=sql.SQL("s.seq NOT IN (SELECT seq FROM pg_temp.copy_bad)"))
        )
        return cur.rowcount, bad

    def _check_exprs(self):
        out = []
        for column, source in zip(self.columns, self._source_exprs()):
            value = self._value(column, source)
            if column.not_null:
                out.append(
                    (
                        column,
                        source,
                        sql.SQL("({}) IS NULL").format(
                            value if self.cmd.format == "CSV" else source
                        ),
                    )
                )
            if column.type.startswith("timestamp") or column.type == "date":
                ok = sql.SQL("localcloud.is_valid_value({}, {}, {})").format(
                    source, sql.Literal(column.type), sql.Literal(self.cmd.time_format or "auto")
                )
            else:
                ok = sql.SQL("pg_input_is_valid({}, {})").format(source, sql.Literal(column.type))
            out.append(
                (
                    column,
                    source,
                    sql.SQL("{} IS NOT NULL AND {} <> '' AND NOT {}").format(source, source, ok)
                    if self.cmd.format == "CSV" and not column.type.startswith(TEXT_TYPES)
                    else sql.SQL("{} IS NOT NULL AND NOT {}").format(source, ok),
                )
            )
        for column in self.missing_not_null:
            out.append((column, sql.SQL("NULL::text"), sql.SQL("TRUE")))
        return out

    def _reason(self, column, source) -> sql.Composable:
        return sql.SQL(
            "CASE WHEN {src} IS NULL OR {src} = '' THEN 'Missing data for not-null field' "
            "ELSE COALESCE((pg_input_error_info({src}, {typ})).message, 'Invalid value for type ' || {typ}) END"
        ).format(src=source, typ=sql.Literal(column.type))

    def _report(self, cur) -> None:
        cur.execute(
            "SELECT seq, line_no, colname, raw_line, raw_value, code, reason FROM pg_temp.copy_bad ORDER BY seq"
        )
        errors = list(self.pending_errors)
        types = {c.name: c.type for c in self.columns}
        for seq, line_no, colname, raw_line, raw_value, code, reason in cur.fetchall():
            url, number = self._locate(seq, line_no)
            errors.append(
                self._error(
                    url,
                    number,
                    colname or "",
                    raw_line,
                    raw_value or "",
                    code,
                    reason,
                    types.get(colname or "", ""),
                )
            )
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
        return {
            "tbl": self.cmd.table,
            "filename": url,
            "line_number": line,
            "colname": colname,
            "type": col_type,
            "raw_line": (raw_line or "")[:1024],
            "raw_field_value": raw_value[:1024],
            "err_code": code,
            "err_reason": reason[:512],
            "label": self.label,
        }
