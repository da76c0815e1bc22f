"""`make cost`: the warehouse statements of the local cloud and the Redshift Serverless charge they imply.

    python -m emulation.redshift.cost_report [--state-dir DIR] [--rpu 8] [--price-per-rpu-hour 0.375]
                             [--seconds-per-insert 0.05] [--json]

Reads `localcloud.statement_log` (every statement `emulation.redshift.connection` sent), prints
statements by kind and label with their rows, the billed time and charge under Redshift
Serverless's per-second billing with its 60-second minimum (the model: `pipeline.redshift_billing`),
and what one INSERT per loaded event would have cost over the same span instead.

Known gaps vs AWS: in the package docstring (`emulation.redshift`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline import redshift_billing


def read_log(dsn: str) -> list[dict]:
    import psycopg

    with psycopg.connect(dsn, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM started_at), duration_ms, kind, rows, label, succeeded "
            "FROM localcloud.statement_log ORDER BY started_at"
        ).fetchall()
    return [
        {
            "start": float(s),
            "duration_s": d / 1000.0,
            "kind": k,
            "rows": r or 0,
            "label": label or "",
            "succeeded": ok,
        }
        for s, d, k, r, label, ok in rows
    ]


def report(statements: list[dict], rpu: int, price: float, seconds_per_insert: float) -> dict:
    loads = [s for s in statements if s["kind"] == "COPY" and s["succeeded"]]
    events = sum(s["rows"] for s in loads)
    span = (
        max(s["start"] + s["duration_s"] for s in statements) - min(s["start"] for s in statements)
        if statements
        else 0.0
    )
    actual = redshift_billing.usage([(s["start"], s["duration_s"]) for s in statements], rpu, price)
    naive = redshift_billing.row_by_row(events, span, rpu, price, seconds_per_insert)
    groups: dict[tuple[str, str], dict] = {}
    for s in statements:
        g = groups.setdefault(
            (s["kind"], s["label"]),
            {
                "kind": s["kind"],
                "label": s["label"],
                "statements": 0,
                "rows": 0,
                "failed": 0,
                "seconds": 0.0,
            },
        )
        g["statements"] += 1
        g["rows"] += s["rows"]
        g["failed"] += 0 if s["succeeded"] else 1
        g["seconds"] += s["duration_s"]
    return {
        "statements": len(statements),
        "events_loaded_by_copy": events,
        "span_s": span,
        "rows_per_copy": events / len(loads) if loads else 0.0,
        "by_kind_and_label": sorted(groups.values(), key=lambda g: (g["kind"], g["label"])),
        "billed_seconds": actual.billed_seconds,
        "rpu_hours": actual.rpu_hours,
        "charge_usd": actual.charge,
        "row_by_row": {
            "statements": naive.statements,
            "billed_seconds": naive.billed_seconds,
            "charge_usd": naive.charge,
            "seconds_per_insert": seconds_per_insert,
        },
        "rpu": rpu,
        "price_per_rpu_hour": price,
    }


def render(r: dict) -> str:
    lines = [
        f"{'kind':<8} {'label':<36} {'statements':>10} {'rows':>12} {'failed':>7} {'seconds':>9}"
    ]
    for g in r["by_kind_and_label"]:
        lines.append(
            f"{g['kind']:<8} {g['label'][:36]:<36} {g['statements']:>10,} {g['rows']:>12,} "
            f"{g['failed']:>7} {g['seconds']:>9.2f}"
        )
    lines += [
        "",
        f"{r['statements']:,} statements; {r['events_loaded_by_copy']:,} rows loaded by COPY "
        f"({r['rows_per_copy']:,.0f} rows per COPY) over {r['span_s']:,.0f} s",
        f"Redshift Serverless at {r['rpu']} RPU x ${r['price_per_rpu_hour']}/RPU-hour "
        f"(${r['rpu'] * r['price_per_rpu_hour']:.2f} per active hour, 60 s minimum per activation):",
        f"  these statements      {r['billed_seconds']:>10,.0f} billed s   ${r['charge_usd']:>10,.2f}",
        f"  row-by-row INSERTs    {r['row_by_row']['billed_seconds']:>10,.0f} billed s   "
        f"${r['row_by_row']['charge_usd']:>10,.2f}   ({r['row_by_row']['statements']:,} INSERTs at "
        f"{r['row_by_row']['seconds_per_insert']} s each, assumed)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulation.redshift.cost_report", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--state-dir", type=Path, default=None, help="the local cloud's state folder"
    )
    parser.add_argument(
        "--rpu",
        type=int,
        default=redshift_billing.DEFAULT_RPU,
        help="base capacity (multiple of 8, >= 8)",
    )
    parser.add_argument(
        "--price-per-rpu-hour", type=float, default=redshift_billing.DEFAULT_PRICE_PER_RPU_HOUR
    )
    parser.add_argument(
        "--seconds-per-insert",
        type=float,
        default=redshift_billing.DEFAULT_SECONDS_PER_INSERT,
        help="assumed duration of one single-row INSERT on Redshift",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    from emulation.config import CloudConfig

    from .server import WarehouseError, superuser_dsn

    try:
        config = CloudConfig.load(args.state_dir)
        statements = read_log(superuser_dsn(config))
        result = report(statements, args.rpu, args.price_per_rpu_hour, args.seconds_per_insert)
    except (FileNotFoundError, WarehouseError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the warehouse is not running or has no statement log yet
        print(
            f"error: cannot read the statement log ({type(exc).__name__}: {str(exc).strip()}); "
            "is the local cloud up (`make up`)?",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
