"""Cut data/sample/ecommerce-sample.csv.gz from the full Online Retail file, keeping every trap.

    python data/sample/make_sample.py ../shared/data/ecommerce-data.csv.gz data/sample/ecommerce-sample.csv.gz

Whole invoices are kept (an invoice is never cut in half) and lines keep their original bytes and
order: latin-1, CRLF, the original header. Chosen invoices: the first 120 of the file, plus the
first invoices that show each trap listed in TRAPS (see data/sample/README.md). The output is
gzip with mtime 0, so re-running the script reproduces the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import sys
from collections import defaultdict

FIRST_INVOICES = 120


def _fields(raw: bytes) -> list[str]:
    return next(csv.reader([raw.decode("latin-1")]))


TRAPS = {
    "cancellation (C...)": lambda r: r[0].startswith("C"),
    "bad-debt adjustment (A...)": lambda r: r[0].startswith("A"),
    "missing CustomerID": lambda r: r[6] == "",
    "missing Description": lambda r: r[2] == "",
    "pound sign byte 0xA3": lambda r: "\u00a3" in r[2],
    "UnitPrice 0": lambda r: r[5] == "0",
    "negative quantity outside a cancellation": lambda r: r[3].startswith("-") and not r[0].startswith("C"),
    "StockCode POST": lambda r: r[1] == "POST",
    "StockCode M": lambda r: r[1] == "M",
    "StockCode D": lambda r: r[1] == "D",
    "StockCode DOT": lambda r: r[1] == "DOT",
    "StockCode BANK CHARGES": lambda r: r[1] == "BANK CHARGES",
    "StockCode AMAZONFEE": lambda r: r[1] == "AMAZONFEE",
    "quoted field with a double quote": lambda r: '"' in r[2],
    "UnitPrice with three decimals": lambda r: "." in r[5] and len(r[5].split(".")[1]) == 3,
}


def main(source: str, target: str) -> None:
    with gzip.open(source, "rb") as f:
        lines = f.read().split(b"\r\n")
    header, rows = lines[0], [raw for raw in lines[1:] if raw]
    parsed = [_fields(raw) for raw in rows]
    chosen: list[str] = []

    def choose(invoice: str) -> None:
        if invoice not in chosen:
            chosen.append(invoice)

    for r in parsed:
        if len(chosen) >= FIRST_INVOICES:
            break
        choose(r[0])
    for name, test in TRAPS.items():
        hits = [r[0] for r in parsed if test(r)]
        if not hits:
            raise SystemExit(f"trap {name!r} not found in {source}")
        for invoice in dict.fromkeys(hits[:2]):  # first two invoices showing the trap
            choose(invoice)
    # Exact duplicate rows within one invoice (separate sales in the source).
    seen: set[bytes] = set()
    for raw, r in zip(rows, parsed):
        if raw in seen:
            choose(r[0])
            break
        seen.add(raw)
    # A customer under two countries, and an invoice spanning two timestamps.
    countries: dict[str, dict[str, str]] = defaultdict(dict)
    stamps: dict[str, set[str]] = defaultdict(set)
    two_countries = two_stamps = None
    for r in parsed:
        if r[6]:
            countries[r[6]].setdefault(r[7], r[0])
            if two_countries is None and len(countries[r[6]]) == 2:
                two_countries = r[6]
        stamps[r[0]].add(r[4])
        if two_stamps is None and len(stamps[r[0]]) == 2:
            two_stamps = r[0]
    for invoice in countries[two_countries].values():
        choose(invoice)
    choose(two_stamps)
    keep = set(chosen)
    out = [header] + [raw for raw, r in zip(rows, parsed) if r[0] in keep]
    data = b"".join(line + b"\r\n" for line in out)
    with open(target, "wb") as raw_out:
        with gzip.GzipFile(fileobj=raw_out, mode="wb", mtime=0, filename="") as gz:
            gz.write(data)
    print(f"{target}: {len(out) - 1} lines, {len(keep)} invoices; customer {two_countries} under "
          f"{sorted(countries[two_countries])}; invoice {two_stamps} spans two timestamps")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
