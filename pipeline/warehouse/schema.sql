-- The warehouse schema, written once in Redshift SQL (the same file runs on Redshift Serverless
-- and, reduced mechanically by emulation/redshift/dialect.py, on the local PostgreSQL stand-in).
-- Idempotent: every statement may run again on an existing warehouse and changes nothing.
-- Column lists and the reasons for the types: docs/warehouse.md.

CREATE SCHEMA IF NOT EXISTS stream;
CREATE SCHEMA IF NOT EXISTS analytics;

-- Firehose's COPY target: one row per delivered Kinesis record. Delivery is at least once, so
-- an event can appear more than once here; read stream.sales_events_dedup instead.
-- DISTKEY(event_id): the dedup view partitions by event_id, which then stays on one slice.
-- SORTKEY(invoice_date): the analytics read by date range.
CREATE TABLE IF NOT EXISTS stream.sales_events (
    event_id        VARCHAR(32)    NOT NULL ENCODE zstd,
    invoice_no      VARCHAR(16)    NOT NULL ENCODE zstd,
    stock_code      VARCHAR(128)   NOT NULL ENCODE zstd,
    description     VARCHAR(1024)           ENCODE zstd,
    quantity        INTEGER        NOT NULL ENCODE az64,
    invoice_date    TIMESTAMP      NOT NULL ENCODE az64,
    unit_price      DECIMAL(18, 6) NOT NULL ENCODE az64,
    customer_id     VARCHAR(16)             ENCODE zstd,
    country         VARCHAR(256)   NOT NULL ENCODE zstd,
    line_total      DECIMAL(38, 6) NOT NULL ENCODE az64,
    is_cancellation BOOLEAN        NOT NULL,
    loaded_at       TIMESTAMP      NOT NULL DEFAULT GETDATE() ENCODE az64
)
DISTSTYLE KEY
DISTKEY (event_id)
COMPOUND SORTKEY (invoice_date);

-- One row per event_id. A redelivered record is byte-identical to the first delivery (same
-- Kinesis record), so keeping the earliest loaded copy loses nothing.
CREATE OR REPLACE VIEW stream.sales_events_dedup AS
SELECT event_id, invoice_no, stock_code, description, quantity, invoice_date, unit_price,
       customer_id, country, line_total, is_cancellation, loaded_at
FROM (
    SELECT e.*,
           ROW_NUMBER() OVER (PARTITION BY e.event_id ORDER BY e.loaded_at) AS delivery_rank
    FROM stream.sales_events AS e
) AS ranked
WHERE delivery_rank = 1;

-- Event ids the stream table holds with more than one content (a redelivery repeats the same
-- content). Ingest refuses a second version of an event id (pipeline/claims.py), so this stays
-- empty; `make e2e` counts it for the replayed ids ("conflicts").
CREATE OR REPLACE VIEW stream.sales_event_conflicts AS
SELECT event_id, COUNT(*) AS versions
FROM (
    SELECT DISTINCT event_id, invoice_no, stock_code, description, quantity, invoice_date,
           unit_price, customer_id, country
    FROM stream.sales_events
) AS versions
GROUP BY event_id
HAVING COUNT(*) > 1;

-- The batch path's table, loaded by the Glue job through analytics.sales_staging and a MERGE on
-- event_id, so a re-run adds nothing. Redshift does not enforce the primary key; the MERGE does.
CREATE TABLE IF NOT EXISTS analytics.sales (
    event_id        VARCHAR(32)    NOT NULL,
    invoice_no      VARCHAR(16)    NOT NULL,
    stock_code      VARCHAR(128)   NOT NULL,
    description     VARCHAR(1024),
    quantity        INTEGER        NOT NULL,
    invoice_date    TIMESTAMP      NOT NULL,
    unit_price      DECIMAL(18, 6) NOT NULL,
    customer_id     VARCHAR(16),
    country         VARCHAR(256)   NOT NULL,
    line_total      DECIMAL(38, 6) NOT NULL,
    is_cancellation BOOLEAN        NOT NULL,
    loaded_at       TIMESTAMP      NOT NULL DEFAULT GETDATE(),
    PRIMARY KEY (event_id)
)
DISTSTYLE KEY
DISTKEY (event_id)
COMPOUND SORTKEY (invoice_date);

-- Same columns as analytics.sales, no key: the Glue job truncates and fills it per run.
-- DISTKEY(event_id) as the target, so the MERGE join needs no redistribution.
CREATE TABLE IF NOT EXISTS analytics.sales_staging (
    event_id        VARCHAR(32)    NOT NULL,
    invoice_no      VARCHAR(16)    NOT NULL,
    stock_code      VARCHAR(128)   NOT NULL,
    description     VARCHAR(1024),
    quantity        INTEGER        NOT NULL,
    invoice_date    TIMESTAMP      NOT NULL,
    unit_price      DECIMAL(18, 6) NOT NULL,
    customer_id     VARCHAR(16),
    country         VARCHAR(256)   NOT NULL,
    line_total      DECIMAL(38, 6) NOT NULL,
    is_cancellation BOOLEAN        NOT NULL,
    loaded_at       TIMESTAMP      NOT NULL DEFAULT GETDATE()
)
DISTSTYLE KEY
DISTKEY (event_id);

-- Archive lines the batch job could not map (bad JSON, failed null policy, ...), kept verbatim.
CREATE TABLE IF NOT EXISTS analytics.sales_quarantine (
    event_id      VARCHAR(32),
    raw_record    VARCHAR(65535) NOT NULL,
    reason        VARCHAR(1024)  NOT NULL,
    source_object VARCHAR(1024)  NOT NULL,
    loaded_at     TIMESTAMP      NOT NULL DEFAULT GETDATE()
)
DISTSTYLE EVEN;

-- Analytics views over the batch table. Revenue is net: cancellations carry negative
-- quantities and so subtract; gross_revenue counts the positive lines only.
CREATE OR REPLACE VIEW analytics.revenue_by_day AS
SELECT CAST(invoice_date AS DATE) AS sale_date,
       COUNT(DISTINCT invoice_no) AS invoices,
       COUNT(*) AS sale_lines,
       SUM(quantity) AS units,
       SUM(CASE WHEN quantity > 0 THEN line_total ELSE 0 END) AS gross_revenue,
       SUM(line_total) AS net_revenue
FROM analytics.sales
GROUP BY CAST(invoice_date AS DATE);

CREATE OR REPLACE VIEW analytics.revenue_by_month AS
SELECT DATE_TRUNC('month', invoice_date) AS sale_month,
       COUNT(DISTINCT invoice_no) AS invoices,
       COUNT(*) AS sale_lines,
       SUM(quantity) AS units,
       SUM(CASE WHEN quantity > 0 THEN line_total ELSE 0 END) AS gross_revenue,
       SUM(line_total) AS net_revenue
FROM analytics.sales
GROUP BY DATE_TRUNC('month', invoice_date);

CREATE OR REPLACE VIEW analytics.revenue_by_country AS
SELECT country,
       COUNT(DISTINCT invoice_no) AS invoices,
       COUNT(DISTINCT customer_id) AS customers,
       SUM(quantity) AS units,
       SUM(CASE WHEN quantity > 0 THEN line_total ELSE 0 END) AS gross_revenue,
       SUM(line_total) AS net_revenue
FROM analytics.sales
GROUP BY country;

-- Product revenue; a stock code can carry several descriptions in the source: MAX picks one.
CREATE OR REPLACE VIEW analytics.revenue_by_product AS
SELECT stock_code,
       MAX(description) AS description,
       COUNT(DISTINCT invoice_no) AS invoices,
       SUM(quantity) AS units,
       SUM(CASE WHEN quantity > 0 THEN line_total ELSE 0 END) AS gross_revenue,
       SUM(line_total) AS net_revenue
FROM analytics.sales
GROUP BY stock_code;

-- Customers by net revenue (anonymous sales, customer_id NULL, are left out).
CREATE OR REPLACE VIEW analytics.top_customers AS
SELECT customer_id,
       MAX(country) AS country,
       COUNT(DISTINCT invoice_no) AS invoices,
       SUM(line_total) AS net_revenue,
       MIN(invoice_date) AS first_purchase,
       MAX(invoice_date) AS last_purchase,
       RANK() OVER (ORDER BY SUM(line_total) DESC) AS revenue_rank
FROM analytics.sales
WHERE customer_id IS NOT NULL
GROUP BY customer_id;

-- Cancelled invoices (InvoiceNo starting with 'C'), per month and country.
CREATE OR REPLACE VIEW analytics.cancellations AS
SELECT DATE_TRUNC('month', invoice_date) AS sale_month,
       country,
       COUNT(DISTINCT invoice_no) AS cancelled_invoices,
       COUNT(*) AS cancelled_lines,
       -SUM(quantity) AS units_returned,
       -SUM(line_total) AS revenue_cancelled
FROM analytics.sales
WHERE is_cancellation
GROUP BY DATE_TRUNC('month', invoice_date), country;
