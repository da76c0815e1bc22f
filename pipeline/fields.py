"""The sale event's field names, in wire order: shared by the pydantic event model, the Glue job
(which runs where pydantic may not be installed) and the warehouse loads."""

EVENT_FIELDS = (
    "event_id",
    "invoice_no",
    "stock_code",
    "description",
    "quantity",
    "invoice_date",
    "unit_price",
    "customer_id",
    "country",
)
"""Fields a client sends."""

RECORD_FIELDS = EVENT_FIELDS + ("line_total", "is_cancellation")
"""Fields of a Kinesis record and an archive line: the event plus its derived fields."""
