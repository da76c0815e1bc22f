"""Parse Redshift's `COPY table [(columns)] FROM 's3://...' <options>` into a `CopyCommand`.

Only the options the stand-in can honour are accepted; any other option fails with an error that
names it, so a COPY that would behave differently on Redshift never loads silently.
Credentials (IAM_ROLE, CREDENTIALS, ACCESS_KEY_ID, ...) are accepted and not checked: the local
S3 (moto) does not authorise requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<word>[A-Za-z_][A-Za-z0-9_$.\"]*)"
    r"|(?P<number>-?[0-9]+)|(?P<punct>[(),;]))"
)

# Options with no effect on what is loaded (Redshift tuning knobs).
_IGNORED_WITH_VALUE = {"COMPUPDATE", "STATUPDATE"}
_CREDENTIALS = {
    "IAM_ROLE",
    "CREDENTIALS",
    "ACCESS_KEY_ID",
    "SECRET_ACCESS_KEY",
    "SESSION_TOKEN",
    "WITH_CREDENTIALS",
}


class CopyError(ValueError):
    """A COPY the stand-in refuses (syntax, unsupported option, missing source)."""


@dataclass
class CopyCommand:
    table: str
    columns: tuple[str, ...]
    source: str
    """`s3://bucket/prefix`, or the manifest's URL when `manifest` is set."""
    format: str = "DELIMITED"
    """JSON, CSV or DELIMITED (Redshift's default: pipe-delimited text)."""
    json_paths: str = "auto"
    delimiter: str | None = None
    """None until parsed: ',' for CSV, '|' otherwise (Redshift's defaults)."""
    quote: str = '"'
    null_as: str = "\\N"
    ignore_header: int = 0
    gzip: bool = False
    manifest: bool = False
    time_format: str | None = None
    """None: Redshift's default 'YYYY-MM-DD HH:MI:SS'; 'auto'; 'epochsecs'; 'epochmillisecs'; a pattern."""
    date_format: str | None = None
    max_error: int = 0
    """Redshift's default: the first bad record fails the whole COPY."""
    empty_as_null: bool = False
    blanks_as_null: bool = False
    region: str | None = None
    ignored: list[str] = field(default_factory=list)

    @property
    def bucket_and_key(self) -> tuple[str, str]:
        return split_s3_url(self.source)


def split_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://") or ("/" not in url[5:] and not url[5:]):
        raise CopyError(f"COPY source {url!r} is not an s3:// URL")
    bucket, _, key = url[5:].partition("/")
    if not bucket:
        raise CopyError(f"COPY source {url!r} names no bucket")
    return bucket, key


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip().rstrip(";").strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise CopyError(f"COPY: cannot read {text[pos : pos + 30]!r}")
        kind = match.lastgroup
        assert kind is not None  # every alternative of _TOKEN is a named group
        value = match.group(kind)
        if kind == "string":
            value = value[1:-1].replace("''", "'")
        tokens.append((kind, value))
        pos = match.end()
    return tokens


class _Reader:
    def __init__(self, tokens):
        self.tokens = tokens
        self.i = 0

    def peek(self, offset: int = 0):
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else ("end", "")

    def next(self):
        tok = self.peek()
        self.i += 1
        return tok

    def word(self, expected: str | None = None) -> str:
        kind, value = self.next()
        if kind != "word" or (expected and value.upper() != expected):
            raise CopyError(f"COPY: expected {expected or 'a name'}, found {value!r}")
        return value

    def string(self, option: str) -> str:
        if self.peek()[1].upper() == "AS":
            self.next()
        kind, value = self.next()
        if kind != "string":
            raise CopyError(f"COPY option {option} needs a quoted value, found {value!r}")
        return value

    def number(self, option: str) -> int:
        if self.peek()[1].upper() == "AS":
            self.next()
        kind, value = self.next()
        if kind not in ("number", "string") or not value.lstrip("-").isdigit():
            raise CopyError(f"COPY option {option} needs a whole number, found {value!r}")
        return int(value)

    def at_end(self) -> bool:
        return self.i >= len(self.tokens)


def parse_copy(sql: str) -> CopyCommand:
    r = _Reader(_tokens(sql))
    r.word("COPY")
    table = r.word()
    columns: list[str] = []
    if r.peek() == ("punct", "("):
        r.next()
        while True:
            columns.append(r.word().lower())
            kind, value = r.next()
            if value == ")":
                break
            if value != ",":
                raise CopyError(f"COPY: bad column list near {value!r}")
    r.word("FROM")
    kind, source = r.next()
    if kind != "string":
        raise CopyError("COPY: FROM needs a quoted 's3://bucket/prefix'")
    if not source.startswith("s3://"):
        raise CopyError(
            f"COPY FROM {source!r}: the stand-in loads from s3:// only (no SSH, EMR, DynamoDB)"
        )
    cmd = CopyCommand(table=table.lower(), columns=tuple(columns), source=source)
    while not r.at_end():
        _option(r, cmd)
    if cmd.delimiter is None:
        cmd.delimiter = "," if cmd.format == "CSV" else "|"
    return cmd


def _option(r: _Reader, cmd: CopyCommand) -> None:
    kind, value = r.next()
    name = value.upper()
    if kind == "punct" and value == ",":
        return
    if kind != "word":
        raise CopyError(f"COPY: unexpected {value!r} among the options")
    if name in _CREDENTIALS:
        r.string(name)
    elif name == "FORMAT":
        if r.peek()[1].upper() == "AS":
            r.next()
        _format(r, cmd, r.word().upper())
    elif name in ("JSON", "CSV"):
        _format(r, cmd, name)
    elif name == "DELIMITER":
        cmd.delimiter = r.string(name)
    elif name == "QUOTE":
        cmd.quote = r.string(name)
    elif name == "NULL":
        cmd.null_as = r.string(name)
    elif name == "IGNOREHEADER":
        cmd.ignore_header = r.number(name)
    elif name == "GZIP":
        cmd.gzip = True
    elif name == "MANIFEST":
        cmd.manifest = True
    elif name == "TIMEFORMAT":
        cmd.time_format = r.string(name)
    elif name == "DATEFORMAT":
        cmd.date_format = r.string(name)
    elif name == "MAXERROR":
        cmd.max_error = r.number(name)
        if not 0 <= cmd.max_error <= 100_000:
            raise CopyError("COPY option MAXERROR must be 0..100000 (Redshift's limit)")
    elif name == "EMPTYASNULL":
        cmd.empty_as_null = True
    elif name == "BLANKSASNULL":
        cmd.blanks_as_null = True
    elif name == "REGION":
        cmd.region = r.string(name)
    elif name in _IGNORED_WITH_VALUE:
        cmd.ignored.append(f"{name} {r.word()}")
    else:
        raise CopyError(
            f"COPY option {name} is not supported by the Redshift stand-in "
            "(see docs/warehouse.md for the supported options)"
        )


def _format(r: _Reader, cmd: CopyCommand, fmt: str) -> None:
    if fmt == "JSON":
        cmd.format = "JSON"
        paths = r.string("JSON")
        if paths.lower() != "auto":
            raise CopyError(
                f"COPY JSON {paths!r} is not supported by the Redshift stand-in: "
                "only JSON 'auto' (keys match column names, case-sensitive)"
            )
        cmd.json_paths = "auto"
    elif fmt == "CSV":
        cmd.format = "CSV"
        if r.peek()[1].upper() == "QUOTE":
            r.next()
            cmd.quote = r.string("QUOTE")
    else:
        raise CopyError(f"COPY FORMAT {fmt} is not supported by the Redshift stand-in (JSON, CSV)")
