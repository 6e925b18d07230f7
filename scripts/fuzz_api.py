"""Fuzz CardTrail's API from its own OpenAPI document (schemathesis 4 + Hypothesis).

Every operation of ``GET /api/v1/openapi.json`` is called with generated requests — valid
ones (positive) and ones that break the schema (negative) — as each caller: no token,
headquarters, store staff and an auditor. Operations on a card or a pickup are also fuzzed
against a real card and a real pickup, so that bodies reach the ledger and not only the
path check. What must hold for every request:

* no 5xx;
* the answer matches the document: status listed for the operation, content type, and body
  schema (success and problem+json alike);
* a refused request (4xx) writes nothing to the log.

Run on its own for a longer campaign (``make fuzz``)::

    .venv/bin/python -m scripts.fuzz_api --examples 200            # SQLite
    .venv/bin/python -m scripts.fuzz_api --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test

It prints requests and statuses per operation and every failure, and exits 1 on a failure.
``tests/ledger_service/test_fuzz_api.py`` runs the same campaign with a few examples.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from ledger_service import idempotency
from ledger_service.actor import Actor
from ledger_service.auth import create_token
from ledger_service.runtime import EXTENSION, RateLimits, runtime_of
from ledger_service.service import Ledger

CALLERS = ("none", "hq", "store", "auditor")
_keys = itertools.count()
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass
class Report:
    """What the campaign sent and what came back."""

    requests: int = 0
    statuses: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    nothing_negative: int = 0
    """Runs skipped because an operation has no input that can break its schema."""
    seconds: float = 0.0

    def print(self, out: Callable[[str], None] = print) -> None:
        """Print a table of operations × statuses and every failure."""
        by_op: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)
        for (op, status), n in self.statuses.items():
            by_op[op][status] += n
        width = max((len(op) for op in by_op), default=10)
        out(f"fuzzed {self.requests:,} requests in {self.seconds:.1f} s")
        for op in sorted(by_op):
            counts = "  ".join(f"{s}×{n}" for s, n in sorted(by_op[op].items()))
            out(f"  {op:{width}}  {counts}")
        fives = sum(n for (_, s), n in self.statuses.items() if s >= 500)
        out(f"5xx answers: {fives}; failures: {len(self.failures)}; "
            f"{self.nothing_negative} negative runs had no input to break")
        for failure in self.failures:
            out("FAILURE " + failure)


@dataclass(frozen=True)
class Target:
    """A fresh deployment's app with its callers' tokens and a real card and pickup."""

    app: Any
    tokens: dict[str, str | None]
    card_number: str
    pickup_id: str


def prepare(app: Any) -> Target:
    """Create stores, tokens of every role, a card and a store pickup on ``app``'s database."""
    rt = app.extensions["cardtrail"]
    hq = Actor("hq", "tok_fuzz_setup")
    ledger = Ledger(rt.engine, rt.secret_key)
    for store_id in ("S1", "S2"):
        ledger.create_store(hq, store_id, f"Store {store_id}", "east")
    batch = ledger.issue_cards(hq, "FUZZ", [{"product": "Tea"}, {"product": "Wine"}])["cards"]
    ledger.claim(hq, batch[1]["card_number"], "crm-1")
    pickup = ledger.request_pickup(
        hq, batch[1]["card_number"], "store", batch[1]["redemption_code"], store_id="S1"
    )

    def token(role: str, store: str | None = None) -> str:
        return create_token(rt.engine, rt.secret_key, role, store).token

    tokens: dict[str, str | None] = {
        "none": None,
        "hq": token("hq"),
        "store": token("store", "S1"),
        "auditor": token("auditor"),
    }
    return Target(app, tokens, batch[0]["card_number"], str(pickup["pickup_id"]))


def _log_size(app: Any) -> int:
    with read_transaction(app.extensions["cardtrail"].engine) as conn:
        return MerkleLog(conn).size()


def campaign(target: Target, examples: int, seed: int | None = 0) -> Report:
    """Fuzz every operation as every caller; ``examples`` per operation, caller and mode."""
    app = target.app
    # Generated requests are not meant to be throttled; the limits have their own tests.
    saved = runtime_of(app)
    app.extensions[EXTENSION] = dataclasses.replace(saved, limits=RateLimits())
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    report = Report()
    started = time.perf_counter()
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            allowed = operation.definition.raw.get("x-roles")
            for caller in CALLERS:
                for mode in _modes(caller, allowed):
                    for fixed in _path_choices(operation.path, target):
                        _fuzz_one(report, target, operation, caller, mode, fixed, examples, seed)
    finally:
        app.extensions[EXTENSION] = saved
    report.seconds = time.perf_counter() - started
    return report


def _modes(caller: str, allowed: list[str] | None) -> tuple[Any, ...]:
    # A caller the route refuses is turned away before its input is read: schema-breaking
    # input would only meet the same 401/403 again, so it gets valid requests only.
    if allowed is None or caller in allowed:
        return (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE)
    return (schemathesis.GenerationMode.POSITIVE,)


def _path_choices(path: str, target: Target) -> list[dict[str, str] | None]:
    # Generated values only (None), and once more on the real card or pickup.
    if "{number}" in path:
        return [None, {"number": target.card_number}]
    if "{id}" in path:
        return [None, {"id": target.pickup_id}]
    return [None]


def _fuzz_one(
    report: Report,
    target: Target,
    operation: Any,
    caller: str,
    mode: Any,
    fixed: dict[str, str] | None,
    examples: int,
    seed: int | None,
) -> None:
    token = target.tokens[caller]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    label = f"{operation.method.upper()} {operation.path}"
    try:
        # Headers are not generated: the token is the caller's, and a fresh Idempotency-Key
        # per request keeps each one a new command (replays have their own tests). This
        # also spares Hypothesis most of its rejected draws.
        strategy = operation.as_strategy(
            generation_mode=mode, path_parameters=fixed, headers={idempotency.HEADER: "fuzz"}
        )
    except Exception as exc:  # an operation with nothing to make negative, for example
        if mode == schemathesis.GenerationMode.NEGATIVE:
            return
        report.failures.append(f"{label}: no strategy: {exc}")
        return

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=seed is not None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=strategy)
    def run(case: Any) -> None:
        before = _log_size(target.app)
        if case.headers and idempotency.HEADER in case.headers:
            case.headers[idempotency.HEADER] = f"fuzz-{next(_keys)}"
        response = case.call(headers=headers)
        report.requests += 1
        report.statuses[(label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)
        if 400 <= response.status_code < 500:
            after = _log_size(target.app)
            assert after == before, f"refused with {response.status_code} but the log grew {before}→{after}"

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        if mode != schemathesis.GenerationMode.NEGATIVE:
            raise
        report.nothing_negative += 1
    except Exception as exc:
        where = f" on {fixed}" if fixed else ""
        first = str(exc).strip().splitlines()
        report.failures.append(
            f"{label} as {caller} ({mode.value}){where}: " + " | ".join(first[:12])
        )


def main(argv: list[str] | None = None) -> int:
    """Run a campaign on a fresh deployment and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100,
                        help="examples per operation, caller, mode and path choice [100]")
    parser.add_argument("--postgres", metavar="URL", default=None,
                        help="run on a fresh schema of this PostgreSQL server [fresh SQLite]")
    parser.add_argument("--seed", type=int, default=None,
                        help="derandomise the generation (default: random each run)")
    args = parser.parse_args(argv)
    from bench.common import postgres_schema
    from cardtrail.app import create_app
    from ledger_service.config import Settings

    with tempfile.TemporaryDirectory(prefix="cardtrail-fuzz-") as tmp, contextlib.ExitStack() as stack:
        environ = {}
        if args.postgres:
            environ["DATABASE_URL"] = stack.enter_context(postgres_schema(args.postgres))
        app = create_app(Settings.from_env(Path(tmp) / "data", environ=environ))
        try:
            report = campaign(prepare(app), args.examples, args.seed)
        finally:
            app.extensions["cardtrail"].engine.dispose()
    print(f"database: {'PostgreSQL' if args.postgres else 'SQLite'}")
    report.print()
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
