"""Event-id claims against moto's in-process DynamoDB: first content wins, resends pass, racing
requests are serialised by the conditional write, conflicts are counted."""

from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws

from emulation.moto.patches import dynamodb_atomic
from pipeline.claims import (
    BLOCK_LINES,
    UNCLAIMED,
    EventClaims,
    apply_claims,
    block_of,
    blocks_of_scope,
)
from pipeline.events import parse_event
from tests.component.conftest import create_pipeline_tables
from tests.sales import sale_fields

TABLE = "event_claim"
PREFIX = "d07aec9960083af2"


def sale(line: int, **changes):
    return parse_event(sale_fields(line, digest=PREFIX, **changes))


@pytest.fixture
def dynamodb(monkeypatch, in_process_aws):
    """In-process moto with the local cloud's atomicity patch: stock moto lets two conditional
    writes that read the same version both succeed (the racing tests below lost claims in 3 of 5
    runs without it)."""
    dynamodb_atomic.apply()
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_pipeline_tables(client, TABLE)
        yield client
    dynamodb_atomic.revert()


def test_blocks_split_line_numbers_by_thousands():
    assert block_of(f"{PREFIX}:999") == (f"{PREFIX}:0", 999)
    assert block_of(f"{PREFIX}:1000") == (f"{PREFIX}:1", 0)
    assert blocks_of_scope(PREFIX, 2, 3934) == [f"{PREFIX}:{b}" for b in range(4)]


def test_apply_claims_claims_free_slots_and_names_the_conflicting_indexes():
    digests, refused = apply_claims(None, {3: ("aaaaaaaaaaaa", 0), 7: ("bbbbbbbbbbbb", 1)})
    assert refused == [] and len(digests) == BLOCK_LINES * len(UNCLAIMED)
    assert digests[36:48] == "aaaaaaaaaaaa" and digests[84:96] == "bbbbbbbbbbbb"
    same, refused = apply_claims(digests, {3: ("aaaaaaaaaaaa", 5)})
    assert (same, refused) == (None, [])  # a resend: nothing to write
    _, refused = apply_claims(digests, {3: ("cccccccccccc", 4), 9: ("dddddddddddd", 2)})
    assert refused == [4]


def test_a_second_version_is_refused_across_requests_and_blocks(dynamodb):
    claims = EventClaims(dynamodb, TABLE)
    batch = [sale(n) for n in range(990, 1010)]  # two blocks
    assert claims.claim(batch) == []
    assert claims.claim(batch) == []  # resend
    conflicts = claims.claim([sale(1200), sale(995, quantity=7), sale(1003, country="EIRE")])
    assert [(c.index, c.event_id) for c in conflicts] == [(1, f"{PREFIX}:995"), (2, f"{PREFIX}:1003")]
    assert claims.conflicts(blocks_of_scope(PREFIX, 990, 1200)) == 2
    # the refused request claimed nothing: its good event is still free to any content
    assert claims.claim([sale(1200, quantity=1)]) == []


def test_racing_requests_with_two_versions_of_one_id_accept_exactly_one(dynamodb):
    versions = [[sale(n) for n in range(2, 400)] + [sale(500, quantity=q)] for q in range(1, 7)]
    results: dict[int, list] = {}
    start = threading.Barrier(len(versions))

    def send(i):
        start.wait()
        results[i] = EventClaims(dynamodb, TABLE, sleep=lambda s: None).claim(versions[i])

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(versions))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, conflicts in results.items() if not conflicts]
    assert len(winners) == 1, results
    assert all([c.index for c in results[i]] == [398] for i in results if i not in winners)


def test_racing_requests_for_different_ids_of_one_block_all_succeed(dynamodb):
    batches = [[sale(n) for n in range(2 + 50 * k, 52 + 50 * k)] for k in range(8)]
    start = threading.Barrier(len(batches))
    results = []

    def send(batch):
        start.wait()
        results.append(EventClaims(dynamodb, TABLE, sleep=lambda s: None).claim(batch))

    threads = [threading.Thread(target=send, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [[]] * len(batches)
    (digests, _), = EventClaims(dynamodb, TABLE).read([f"{PREFIX}:0"]).values()
    claimed = {i for i in range(BLOCK_LINES) if digests[i * 12:(i + 1) * 12] != UNCLAIMED}
    assert claimed == set(range(2, 402))  # no request's claims were lost to another's write
