"""Account quotas `python -m deploy deploy` checks before deploying, so a stack that cannot be
created on this account fails at once with the numbers and the fix, not minutes into a rollback.

Reserved concurrency (only with `-c reserve_concurrency=true`): Lambda lets an account reserve
concurrency only while at least 100 executions stay unreserved (PutFunctionConcurrency, AWS Lambda
API reference), so a new account at the default quota of 10 cannot reserve any.
"""

from __future__ import annotations

MIN_UNRESERVED = 100
"""Executions Lambda keeps unreserved for functions without a reservation (AWS documented)."""


def reserved_concurrency_problem(lambda_client, resources) -> str | None:
    """None if the described reservations fit the account's Lambda quota, else what to do."""
    wanted = {f.name: f.reserved_concurrency for f in resources.functions if f.reserved_concurrency}
    if not wanted:
        return None
    limits = lambda_client.get_account_settings()["AccountLimit"]
    limit, unreserved = limits["ConcurrentExecutions"], limits["UnreservedConcurrentExecutions"]
    # A redeploy replaces this stack's own reservations: they return to the pool first.
    current = 0
    for name in wanted:
        try:
            reply = lambda_client.get_function_concurrency(FunctionName=name)
        except lambda_client.exceptions.ResourceNotFoundException:
            continue
        current += reply.get("ReservedConcurrentExecutions") or 0
    need = sum(wanted.values())
    left = unreserved + current - need
    if left >= MIN_UNRESERVED:
        return None
    detail = ", ".join(f"{n} {c}" for n, c in sorted(wanted.items()))
    return (
        f"-c reserve_concurrency=true reserves {need} Lambda executions ({detail}), but this account's "
        f"concurrency limit is {limit} with {unreserved} unreserved ({current} held by this stack): "
        f"{left} would stay unreserved and Lambda requires {MIN_UNRESERVED}. Deploy without "
        f"-c reserve_concurrency=true, or raise the 'Concurrent executions' quota (Service Quotas > "
        f"AWS Lambda) to at least {limit + MIN_UNRESERVED - left}."
    )
