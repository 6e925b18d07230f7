"""Writing events down: each leaf is exactly the canonical JSON of its event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from anchoring.db import write_transaction
from anchoring.log import MerkleLog
from anchoring.schema import metadata
from ledger_service.actor import Actor
from ledger_service.domain.lifecycle import CardState, EventDraft, EventType
from ledger_service.events import GENESIS, build_event, card_commitment, event_hash, leaf_input
from ledger_service.service.events_log import log_events

NOW = datetime(2026, 12, 2, 17, 0, 0, 123000, tzinfo=UTC)


def test_logged_leaves_are_the_canonical_json_of_their_events(engine):
    metadata.create_all(engine)
    shared = {"product": "Tea", "face_value": 5000, "allowed_stores": ["S1"], "holder": None}
    drafts = [
        EventDraft(EventType.ISSUED, CardState.ISSUED, NOW, data=shared),
        EventDraft(EventType.ISSUED, CardState.ISSUED, NOW, data=shared),
        EventDraft(
            EventType.REDEEMED,
            CardState.REDEEMED,
            NOW - timedelta(seconds=5),
            store_id="S1",
            data={"note": "é\n\u2028", "\U0001f600": 1, "\ufb01": [1, None, True]},
        ),
        EventDraft(EventType.BLOCKED, CardState.BLOCKED, NOW, data={}),
    ]
    entries = [
        (f"2345678{n}ABCDEFGHJ", bytes([n]) * 16, n, GENESIS if n == 0 else "ab" * 32, draft)
        for n, draft in enumerate(drafts)
    ]
    actor = Actor("hq", "tok_é")
    with write_transaction(engine) as conn:
        log = MerkleLog(conn)
        size = log.lock_head()
        logged, rows = log_events(log, size, actor, NOW, entries)
        leaves = [log.leaf_input(index) for index, _ in logged]
    for (number, salt, seq, prev, draft), leaf, (index, last_hash) in zip(
        entries, leaves, logged, strict=True
    ):
        expected = build_event(
            leaf_index=index,
            card=card_commitment(salt, number),
            seq=seq,
            type=draft.type,
            occurred_at=draft.occurred_at,
            recorded_at=NOW,
            actor=actor.to_event(),
            store_id=draft.store_id,
            data=draft.data,
            prev_event_hash=prev,
            nonce=json.loads(leaf)["nonce"],
        )
        assert leaf == leaf_input(expected)
        assert last_hash == event_hash(leaf)
    assert [row["leaf_index"] for row in rows] == [index for index, _ in logged]
    assert len({json.loads(leaf)["nonce"] for leaf in leaves}) == len(leaves)
