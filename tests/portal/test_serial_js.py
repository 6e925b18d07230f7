"""serial.js, the serial lookup's check in the browser: a genuine handover holds up; an
altered event, a handover of another serial, another event type or a root the chain does
not hold are each caught."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import rfc8785

from anchoring.db import write_transaction
from anchoring.log import MerkleLog
from ledger_service import db

RUNNER = Path(__file__).resolve().parent / "run_serial_js.js"


def _event(index: int, type_: str, serials: list[str]) -> dict:
    return {
        "leaf_index": index,
        "card": f"{index:064x}",
        "seq": 3,
        "type": type_,
        "occurred_at": "2026-12-02T08:00:00.000Z",
        "recorded_at": "2026-12-02T08:00:00.000Z",
        "actor": {"role": "store", "id": "tok_1"},
        "store_id": "SH01",
        "data": {"pickup_id": "p1", "credential": "rotating_code", "serials": serials},
        "prev_event_hash": "ab" * 32,
        "nonce": "00" * 16,
    }


def _case(engine) -> dict:
    db.upgrade(engine)
    events = [_event(i, "PICKUP_COMPLETED" if i != 2 else "REDEEMED", ["MT-1"]) for i in range(5)]
    with write_transaction(engine) as conn:
        log = MerkleLog(conn)
        log.append([rfc8785.dumps(e) for e in events])
        root = log.root(5)
        proofs = {i: log.inclusion_proof(i, 5) for i in range(5)}
    handovers = [
        {
            "leaf_index": i,
            "event": events[i],
            "inclusion_proof": [h.hex() for h in proofs[i].hashes],
        }
        for i in range(5)
    ]
    return {
        "serial": "MT-1",
        "checkpoint": {"tree_size": 5, "root": root.hex()},
        "anchored_root": root.hex(),
        "handovers": handovers,
    }


def _run(node_binary: str, case: dict, tmp_path: Path) -> list:
    path = tmp_path / "case.json"
    path.write_text(json.dumps(case))
    out = subprocess.run(
        [node_binary, str(RUNNER), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)


def test_a_genuine_handover_holds_up_and_each_lie_is_caught(node_binary, engine, tmp_path):
    case = _case(engine)
    genuine = _run(node_binary, case, tmp_path)
    assert [r is None for r in genuine] == [True, True, False, True, True]
    assert "REDEEMED" in genuine[2]

    altered = copy.deepcopy(case)
    altered["handovers"][1]["event"]["data"]["serials"] = ["MT-1", "MT-2"]
    assert "root" in _run(node_binary, altered, tmp_path)[1]

    other = copy.deepcopy(case)
    other["serial"] = "MT-9"
    assert "does not list this serial" in _run(node_binary, other, tmp_path)[0]

    unanchored = copy.deepcopy(case)
    unanchored["anchored_root"] = "00" * 32
    assert "another root" in _run(node_binary, unanchored, tmp_path)[0]
