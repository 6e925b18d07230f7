"""The counter's queue: what is queued survives a crash, and codes go once decided."""

from __future__ import annotations

import sqlite3

from ledger_service.events import utc_now
from store_client.queue import Queue


def test_queued_commands_survive_a_crash_and_codes_go_once_decided(tmp_path):
    path = tmp_path / "q.db"
    queue = Queue(path)
    item = {
        "action": "redeem",
        "card_number": "X",
        "redemption_code": "SECRET-1",
        "signature": {"client_id": "c-crash-0001"},
    }
    queue.add(item, utc_now())
    # No close(): the process dies here. A new process opens the same file.
    reopened = Queue(path)
    [waiting] = reopened.pending()
    assert waiting.item == item and "SECRET" not in repr(waiting)
    reopened.settle([{"client_id": "c-crash-0001", "status": "accepted"}], utc_now())
    assert reopened.pending() == []
    assert b"SECRET-1" not in b"".join(line.encode() for line in sqlite3.connect(path).iterdump())
    reopened.close()
    queue.close()
