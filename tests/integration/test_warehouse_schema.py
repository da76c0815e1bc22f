"""pipeline/warehouse/schema.sql, reduced for PostgreSQL, on a real PostgreSQL 16: twice (idempotent),
and the views answer what they promise."""

from __future__ import annotations

import psycopg
import pytest

from emulation.config import REPO_ROOT
from emulation.redshift.connection import connect, install_bookkeeping

from .warehouse_support import ScratchPostgres

pytestmark = pytest.mark.embedded_only(
    reason=(
        "applies the warehouse schema twice to its own scratch PostgreSQL; the compose warehouse "
        "is shared and already provisioned"
    )
)

SCHEMA = (REPO_ROOT / "pipeline/warehouse/schema.sql").read_text()
COLS = ("event_id, invoice_no, stock_code, description, quantity, invoice_date, unit_price, customer_id, "
        "country, line_total, is_cancellation")


@pytest.fixture(scope="module")
def rs(tmp_path_factory):
    pg = ScratchPostgres(tmp_path_factory.mktemp("schema"))
    install_bookkeeping(pg.superuser_dsn)
    conn = connect(pg.superuser_dsn)
    yield conn
    conn.close()
    pg.close()


def snapshot(rs) -> list[tuple]:
    return rs.query(
        "SELECT table_schema, table_name, column_name, data_type, character_maximum_length, numeric_precision, "
        "numeric_scale, is_nullable, column_default FROM information_schema.columns "
        "WHERE table_schema IN ('stream', 'analytics') ORDER BY 1, 2, ordinal_position")


def test_schema_applies_twice_and_changes_nothing_the_second_time(rs):
    rs.execute(SCHEMA, label="migrate")
    rs.execute("INSERT INTO analytics.sales_quarantine (raw_record, reason, source_object) VALUES ('x', 'y', 'z')")
    first = snapshot(rs)
    rs.execute(SCHEMA, label="migrate")
    assert snapshot(rs) == first
    assert rs.query("SELECT count(*) FROM analytics.sales_quarantine") == [(1,)]  # data survives a re-run
    tables = {(s, t) for s, t, *_ in first}
    assert {("stream", "sales_events"), ("stream", "sales_events_dedup"), ("analytics", "sales"),
            ("analytics", "sales_staging"), ("analytics", "sales_quarantine"), ("analytics", "revenue_by_day"),
            ("analytics", "revenue_by_month"), ("analytics", "revenue_by_country"),
            ("analytics", "revenue_by_product"), ("analytics", "top_customers"),
            ("analytics", "cancellations")} <= tables
    types = {c: (t, n, p, sc) for s, tb, c, t, n, p, sc, *_ in first if (s, tb) == ("stream", "sales_events")}
    assert types["invoice_date"][0] == "timestamp without time zone"
    assert types["unit_price"][2:] == (18, 6) and types["line_total"][2:] == (38, 6)
    assert types["quantity"][0] == "integer" and types["is_cancellation"][0] == "boolean"
    assert rs.query("SELECT count(*) FROM localcloud.statement_log WHERE label = 'migrate' AND succeeded") == [(28,)]


def test_primary_key_on_sales_and_nullable_quarantine_event_id(rs):
    rs.execute(SCHEMA)
    row = "('k:1', '536365', '85123A', NULL, 1, '2010-12-01 08:26', 2.55, NULL, 'France', 2.55, false)"
    rs.execute(f"INSERT INTO analytics.sales ({COLS}) VALUES {row}")
    with pytest.raises(psycopg.errors.UniqueViolation):
        rs.execute(f"INSERT INTO analytics.sales ({COLS}) VALUES {row}")
    nullable = rs.query("SELECT is_nullable FROM information_schema.columns WHERE table_schema = 'analytics' "
                        "AND table_name = 'sales_quarantine' AND column_name = 'event_id'")
    assert nullable == [("YES",)]


def test_dedup_view_keeps_one_row_per_event_and_views_compute_net_revenue(rs):
    rs.execute(SCHEMA)
    rs.execute("TRUNCATE stream.sales_events, analytics.sales")
    rows = [
        "('d:1', '536365', 'A', 'a', 6, '2010-12-01 08:26', 2.55, '17850', 'United Kingdom', 15.30, false)",
        "('d:1', '536365', 'A', 'a', 6, '2010-12-01 08:26', 2.55, '17850', 'United Kingdom', 15.30, false)",
        "('d:2', 'C536379', 'A', 'a', -2, '2010-12-01 09:41', 2.55, '17850', 'United Kingdom', -5.10, true)",
        "('d:3', '536370', 'B', 'b', 3, '2010-12-02 10:00', 1.00, NULL, 'France', 3.00, false)",
    ]
    rs.execute(f"INSERT INTO stream.sales_events ({COLS}) VALUES " + ", ".join(rows))
    assert rs.query("SELECT event_id FROM stream.sales_events_dedup ORDER BY 1") == [("d:1",), ("d:2",), ("d:3",)]
    rs.execute(f"INSERT INTO analytics.sales ({COLS}) SELECT {COLS} FROM stream.sales_events_dedup")
    by_day = rs.query("SELECT sale_date::text, gross_revenue::float, net_revenue::float FROM analytics.revenue_by_day "
                      "ORDER BY 1")
    assert by_day == [("2010-12-01", 15.3, 10.2), ("2010-12-02", 3.0, 3.0)]
    assert rs.query("SELECT customer_id, revenue_rank FROM analytics.top_customers") == [("17850", 1)]
    assert rs.query("SELECT cancelled_invoices, units_returned, revenue_cancelled::float "
                    "FROM analytics.cancellations") == [(1, 2, 5.1)]
    assert rs.query("SELECT country, net_revenue::float FROM analytics.revenue_by_country ORDER BY 1") == \
        [("France", 3.0), ("United Kingdom", 10.2)]
    assert rs.query("SELECT stock_code, units FROM analytics.revenue_by_product ORDER BY 1") == [("A", 4), ("B", 3)]
    assert rs.query("SELECT sale_month::date::text, sale_lines FROM analytics.revenue_by_month") == \
        [("2010-12-01", 3)]


def test_conflicts_view_counts_ids_held_in_two_versions_not_redeliveries(rs):
    rs.execute(SCHEMA)
    rs.execute("TRUNCATE stream.sales_events")
    rows = [
        # d:1 delivered twice, the same content (2.55 and 2.550 are one price): a redelivery
        "('d:1', '536365', 'A', NULL, 6, '2010-12-01 08:26', 2.55, NULL, 'United Kingdom', 15.30, false)",
        "('d:1', '536365', 'A', NULL, 6, '2010-12-01 08:26', 2.550, NULL, 'United Kingdom', 15.300, false)",
        # d:2 in two versions, on two invoices; d:3 in three
        "('d:2', '536365', 'A', 'a', 6, '2010-12-01 08:26', 2.55, '17850', 'United Kingdom', 15.30, false)",
        "('d:2', '536999', 'A', 'a', 6, '2010-12-01 08:26', 2.55, '17850', 'United Kingdom', 15.30, false)",
        "('d:3', '536370', 'B', 'b', 3, '2010-12-02 10:00', 1.00, NULL, 'France', 3.00, false)",
        "('d:3', '536370', 'B', 'b', 4, '2010-12-02 10:00', 1.00, NULL, 'France', 4.00, false)",
        "('d:3', '536370', 'B', NULL, 3, '2010-12-02 10:00', 1.00, NULL, 'France', 3.00, false)",
    ]
    rs.execute(f"INSERT INTO stream.sales_events ({COLS}) VALUES " + ", ".join(rows))
    assert rs.query("SELECT event_id, versions FROM stream.sales_event_conflicts ORDER BY 1") == [
        ("d:2", 2), ("d:3", 3)]
