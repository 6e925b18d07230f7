"""The auditors' blueprint: the chain in use, anchored checkpoints, log proofs and leaves.

Everything here is public: the log holds only commitments and hashes (every event carries
a random nonce), and auditors should not need an account to check a merchant. Proofs and
the checkpoint list are rate-limited per client address like the other public lookups; the
list comes in pages of at most :data:`CHECKPOINT_PAGE_SIZE`, since the log is anchored
every few seconds and its checkpoints only ever grow in number. The leaves themselves
come in pages of at most :data:`LEAF_PAGE_SIZE`, so that a monitor (``cardtrail monitor``)
can recompute every anchored root from public data alone.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from flask import Blueprint, Response, request, url_for

from anchoring import checkpoints
from anchoring.db import read_transaction
from anchoring.errors import TreeSizeError
from anchoring.log import MerkleLog
from ledger_service.errors import NotAnchored, ValidationFailed
from ledger_service.openapi import Operation, operation
from ledger_service.runtime import runtime
from portal import models
from portal.security import limit_public

bp = Blueprint("auditor", __name__, url_prefix="/api/v1")

_MAX_DIGITS = 16
_DIGITS = re.compile(f"[0-9]{{1,{_MAX_DIGITS}}}")
_ANCHORED = "the checkpoints this server recorded as anchored by the current deployment"

CHECKPOINT_PAGE_SIZE = 100
"""The most checkpoints one page of ``/log/checkpoints`` lists, and its default page size."""

LEAF_PAGE_SIZE = 500
"""The most leaves one page of ``/log/leaves`` holds, and its default page size."""


def _json(document: Any) -> Response:
    return Response(json.dumps(document, separators=(",", ":")), mimetype="application/json")


def _int_arg(
    name: str, minimum: int, *, default: int | None = None, maximum: int | None = None
) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        if default is not None:
            return default
        raise ValidationFailed(
            f"query parameter {name} is required",
            errors=[{"loc": f"query.{name}", "message": "required"}],
        )
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    value = int(raw) if _DIGITS.fullmatch(raw) else None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        bounds = f"integer ≥ {minimum}" + (f" and ≤ {maximum}" if maximum is not None else "")
        raise ValidationFailed(
            f"query parameter {name} must be an {bounds}, got {raw[:20]!r}",
            errors=[{"loc": f"query.{name}", "message": bounds}],
        )
    return value


def _size_query(description: str, minimum: int) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "schema": {"type": "integer", "minimum": minimum, "maximum": 10**_MAX_DIGITS - 1},
    }


@bp.get("/chain")
@operation(
    Operation(
        "The chain and contract the log is anchored to",
        description="`rpc_url` is the endpoint the public pages suggest to browsers; "
        "any endpoint of the same chain will do. Nulls before the first deployment.",
        tags=("auditor",),
        response=models.ChainInfo,
    )
)
def chain() -> Response:
    """The chain id, the contract address and the RPC URL browsers are told to use."""
    rt = runtime()
    with read_transaction(rt.engine) as conn:
        deployment = checkpoints.current_deployment(conn)
    return _json(
        {
            "chain_id": deployment.chain_id if deployment else None,
            "contract": deployment.contract if deployment else None,
            "rpc_url": rt.settings.browser_rpc_url,
        }
    )


@bp.get("/log/checkpoints")
@operation(
    Operation(
        "Anchored checkpoints",
        description=f"One page of {_ANCHORED}, smallest tree first: those with a tree size "
        f"of at least `start`, at most `limit` (≤ {CHECKPOINT_PAGE_SIZE}) of them. `next` "
        "is the URL of the following page, null on the last one.",
        tags=("auditor",),
        response=models.CheckpointList,
        errors=("VALIDATION_FAILED", "RATE_LIMITED"),
        query={
            "start": {
                "required": False,
                "description": "The smallest tree size to list "
                "(default 0: from the first checkpoint).",
                "schema": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": 10**_MAX_DIGITS - 1,
                    "default": 0,
                },
            },
            "limit": {
                "required": False,
                "description": "Checkpoints per page.",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": CHECKPOINT_PAGE_SIZE,
                    "default": CHECKPOINT_PAGE_SIZE,
                },
            },
        },
    )
)
def checkpoint_list() -> Response:
    """One page of the current deployment's anchored checkpoints, with the next page's URL."""
    limit_public()
    start = _int_arg("start", 0, default=0)
    limit = _int_arg("limit", 1, default=CHECKPOINT_PAGE_SIZE, maximum=CHECKPOINT_PAGE_SIZE)
    with read_transaction(runtime().engine) as conn:
        # One more than asked for: whether a next page exists, without counting them all.
        found = checkpoints.anchored_checkpoints_from(conn, start, limit + 1)
    page = found[:limit]
    next_url = None
    if len(found) > limit:
        after = page[-1].checkpoint.tree_size + 1
        next_url = url_for(".checkpoint_list", start=after, limit=limit)
    return _json({"checkpoints": [c.to_json() for c in page], "next": next_url})


@bp.get("/log/checkpoints/latest")
@operation(
    Operation(
        "The latest anchored checkpoint",
        description=f"The newest of {_ANCHORED}.",
        tags=("auditor",),
        response=models.AnchoredCheckpointInfo,
        errors=("NOT_ANCHORED",),
    )
)
def checkpoint_latest() -> Response:
    """The newest anchored checkpoint, or NOT_ANCHORED."""
    with read_transaction(runtime().engine) as conn:
        latest = checkpoints.latest_anchored(conn)
    if latest is None:
        raise NotAnchored("no checkpoint has been anchored yet")
    return _json(latest.to_json())


@bp.get("/log/proofs/inclusion")
@operation(
    Operation(
        "Inclusion proof of a leaf",
        description="RFC 9162 §2.1.3 proof that leaf `leaf_index` is in the tree of "
        "`tree_size` leaves, with that tree's root. Hashes are lowercase hex.",
        tags=("auditor",),
        response=models.InclusionProofReply,
        errors=("VALIDATION_FAILED", "RATE_LIMITED"),
        query={
            "leaf_index": _size_query("The leaf (0-based).", 0),
            "tree_size": _size_query("The tree size; at most the log's size.", 1),
        },
    )
)
def inclusion() -> Response:
    """An inclusion proof from the stored tree."""
    limit_public()
    leaf_index, tree_size = _int_arg("leaf_index", 0), _int_arg("tree_size", 1)
    if leaf_index >= tree_size:
        raise ValidationFailed(
            f"leaf_index {leaf_index} is not below tree_size {tree_size}",
            errors=[{"loc": "query.leaf_index", "message": "< tree_size"}],
        )
    with read_transaction(runtime().engine) as conn:
        log = MerkleLog(conn)
        try:
            proof = log.inclusion_proof(leaf_index, tree_size)
            root = log.root(tree_size)
        except TreeSizeError as exc:
            raise ValidationFailed(
                str(exc), errors=[{"loc": "query.tree_size", "message": "beyond the log"}]
            ) from None
    return _json({**proof.to_json(), "root": root.hex()})


@bp.get("/log/proofs/consistency")
@operation(
    Operation(
        "Consistency proof between two tree sizes",
        description="RFC 9162 §2.1.4 proof that the tree of `second` leaves extends the "
        "tree of `first` leaves, with both roots.",
        tags=("auditor",),
        response=models.ConsistencyProofReply,
        errors=("VALIDATION_FAILED", "RATE_LIMITED"),
        query={
            "first": _size_query("The older tree size.", 1),
            "second": _size_query("The newer tree size; at most the log's size.", 1),
        },
    )
)
def consistency() -> Response:
    """A consistency proof from the stored tree."""
    limit_public()
    first, second = _int_arg("first", 1), _int_arg("second", 1)
    if first > second:
        raise ValidationFailed(
            f"first {first} is larger than second {second}",
            errors=[{"loc": "query.first", "message": "≤ second"}],
        )
    with read_transaction(runtime().engine) as conn:
        log = MerkleLog(conn)
        try:
            proof = log.consistency_proof(first, second)
            roots = log.root(first), log.root(second)
        except TreeSizeError as exc:
            raise ValidationFailed(
                str(exc), errors=[{"loc": "query.second", "message": "beyond the log"}]
            ) from None
    return _json({**proof.to_json(), "first_root": roots[0].hex(), "second_root": roots[1].hex()})


@bp.get("/log/leaves")
@operation(
    Operation(
        "Leaf inputs of the log",
        description=f"Leaves `start` to `end` - 1, at most {LEAF_PAGE_SIZE} per page (`end` "
        "past the log's size stops at its size; `start` beyond it, or `end` not above "
        "`start`, is VALIDATION_FAILED), each the base64 of its leaf input: exactly "
        "the bytes hashed into the tree (an event's canonical JSON, UTF-8). With them and "
        "the contract's `CheckpointAnchored` logs anyone can recompute every anchored root "
        "(`cardtrail monitor`). `next` is the following page's URL, null at the log's end.",
        tags=("auditor",),
        response=models.LeafPage,
        errors=("VALIDATION_FAILED", "RATE_LIMITED"),
        query={
            "start": _size_query("The first leaf (0-based).", 0),
            "end": {
                "required": False,
                "description": "One past the last leaf wanted (default: the log's "
                "size); a page stops earlier and names the next in `next`.",
                "schema": {"type": "integer", "minimum": 1, "maximum": 10**_MAX_DIGITS - 1},
            },
        },
    )
)
def leaves() -> Response:
    """One page of leaf inputs, base64, with the next page's URL."""
    limit_public()
    start = _int_arg("start", 0)
    asked_end = request.args.get("end") not in (None, "")
    end = _int_arg("end", 1) if asked_end else None
    if end is not None and end <= start:
        raise ValidationFailed(
            f"end {end} is not above start {start}",
            errors=[{"loc": "query.end", "message": "> start"}],
        )
    with read_transaction(runtime().engine) as conn:
        log = MerkleLog(conn)
        size = log.size()
        if start > size:
            raise ValidationFailed(
                f"start {start} is beyond the log's size {size}",
                errors=[{"loc": "query.start", "message": "beyond the log"}],
            )
        target = size if end is None else min(end, size)
        stop = min(target, start + LEAF_PAGE_SIZE)
        found = [data for _, data, _ in log.iter_leaves(start, stop, batch=LEAF_PAGE_SIZE)]
    following: dict[str, Any] = {"start": stop} | ({"end": end} if end is not None else {})
    return _json(
        {
            "start": start,
            "end": stop,
            "tree_size": size,
            "leaves": [base64.b64encode(data).decode("ascii") for data in found],
            "next": url_for(".leaves", **following) if stop < target else None,
        }
    )
