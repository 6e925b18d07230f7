"""Fuzz CardTrail's API from its own OpenAPI document (schemathesis 4 + Hypothesis).

Every operation of ``GET /api/v1/openapi.json`` is called with generated requests — valid
ones (positive) and ones that break the schema (negative) — as each caller: no token,
headquarters, store staff and an auditor. Operations on a card or a pickup are also fuzzed
against a real card and a real pickup, so that bodies reach the ledger and not only the
path check. What must hold for every request:

* no 5xx;
* the answer matches the document: status listed for the operation, content type, and body
  schema (success and problem+json alike);
* a refused request (4xx) writes nothing to the log;
* a valid request (positive, by a caller the operation admits) is never refused for its
  shape: the document states what the server checks, so data generated from it gets past
  validation (``Report.shape_refusals``; ``Report.mostly_rejected`` applies schemathesis's
  own "schema validation mismatch" rule).

The one check no JSON Schema can state, a card number's check character, is named by a
custom format (``schemas.CARD_NUMBER_FORMAT``); importing this module registers a generator
for it, made from the code that checks it. ``scripts/schemathesis_hooks.py`` does the same
for the schemathesis command line.

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
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.cli.commands.run.warnings import StatusCodeStatistic
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from ledger_service import idempotency, schemas
from ledger_service.actor import Actor
from ledger_service.auth import create_token
from ledger_service.domain import numbers
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
SHAPE_CODES = ("VALIDATION_FAILED", "INVALID_CARD_NUMBER")
RELATIONS = {
    ("query.leaf_index", "< tree_size"),
    ("query.first", "≤ second"),
    ("query.tree_size", "beyond the log"),
    ("query.second", "beyond the log"),
    ("query.start", "beyond the log"),
    ("query.end", "> start"),
    ("body.day", "a date from today to 90 days ahead"),
    ("body.serials", "no serial twice"),
    ("body.credential", "required for a store pickup, none for a delivery"),
}
"""Refusals the document states in prose, not in schemas: relations between parameters
and to the log's size (``GET /log/proofs/...``, ``GET /log/leaves``), and a pickup's
rules (its day's range, serials listed once, the credential its mode needs)."""


def card_numbers() -> st.SearchStrategy[str]:
    """Well-formed card numbers, check character included, as people type them."""
    bodies = st.text(
        st.sampled_from(numbers.ALPHABET),
        min_size=numbers.BODY_LENGTH,
        max_size=numbers.BODY_LENGTH,
    )
    whole = bodies.map(lambda body: body + numbers.check_character(body))
    grouped = whole.map(numbers.format_card_number)
    return st.one_of(
        whole, grouped, grouped.map(lambda text: text.replace("-", " ")), whole.map(str.lower)
    )


schemathesis.openapi.format(schemas.CARD_NUMBER_FORMAT, card_numbers())


@dataclass
class Report:
    """What the campaign sent and what came back."""

    requests: int = 0
    statuses: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    nothing_negative: int = 0
    """Runs skipped because an operation has no input that can break its schema."""
    seconds: float = 0.0
    positive: collections.Counter[tuple[str, int]] = field(default_factory=collections.Counter)
    """Statuses of valid requests by callers the operation admits, per operation."""
    shape_refusals: list[str] = field(default_factory=list)
    """Valid requests refused for their shape: the document and the server disagree."""

    def mostly_rejected(self) -> list[str]:
        """Operations schemathesis would list as "mostly rejected generated data due to
        validation errors": no valid request served, and the refusals not about auth,
        existence, conflicts or rate limits."""
        by_op: dict[str, dict[int, int]] = collections.defaultdict(dict)
        for (op, status), n in self.positive.items():
            by_op[op][status] = n
        return sorted(
            op
            for op, counts in by_op.items()
            if not any(200 <= status < 300 for status in counts)
            and StatusCodeStatistic(
                counts, sum(counts.values())
            ).should_warn_about_validation_mismatch()
        )

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
        out(
            f"5xx answers: {fives}; failures: {len(self.failures)}; "
            f"{self.nothing_negative} negative runs had no input to break"
        )
        valid = sum(self.positive.values())
        out(
            f"valid requests refused for their shape: {len(self.shape_refusals)} of {valid}; "
            f"operations mostly rejecting valid data: {len(self.mostly_rejected())}"
        )
        for op in self.mostly_rejected():
            out("  MOSTLY REJECTED " + op)
        for refusal in self.shape_refusals:
            out("  SHAPE REFUSAL " + refusal)
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
    batch = ledger.issue_cards(hq, "FUZZ", [{"product": "Tea"}, {"product": "Wine"}], active=True)[
        "cards"
    ]
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
                    for fixed in _choices(operation.path, target):
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


def _choices(path: str, target: Target) -> list[dict[str, Any] | None]:
    # Generated values only (None), and once more on the real card, pickup or log: valid
    # requests about things that do not exist say little about the handlers. The
    # customer's routes take no token, so every caller's guesses of the real card's code
    # would lock it (423) for the routes after them: they get generated values only, and
    # tests/ledger_service/test_customer_api.py covers them on real cards.
    if path.startswith("/api/v1/customer/"):
        return [None]
    if "{number}" in path:
        return [None, {"path_parameters": {"number": target.card_number}}]
    if "{id}" in path:
        return [None, {"path_parameters": {"id": target.pickup_id}}]
    if path.endswith("/proofs/inclusion"):
        size = _log_size(target.app)
        return [None, {"query": {"leaf_index": size - 1, "tree_size": size}}]
    if path.endswith("/proofs/consistency"):
        size = _log_size(target.app)
        return [None, {"query": {"first": 1, "second": size}}]
    if path.endswith("/log/leaves"):
        size = _log_size(target.app)
        return [None, {"query": {"start": size - 1}}, {"query": {"start": 0, "end": size}}]
    return [None]


def _fuzz_one(
    report: Report,
    target: Target,
    operation: Any,
    caller: str,
    mode: Any,
    fixed: dict[str, Any] | None,
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
            generation_mode=mode, headers={idempotency.HEADER: "fuzz"}, **(fixed or {})
        )
    except Exception as exc:  # noqa: BLE001 (nothing to make negative, for example)
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
        if mode == schemathesis.GenerationMode.POSITIVE and _admits(operation, caller):
            _record_valid(report, label, case, response)
        case.validate_response(response, checks=CHECKS, headers=headers)
        if 400 <= response.status_code < 500:
            after = _log_size(target.app)
            assert after == before, (
                f"refused with {response.status_code} but the log grew {before}→{after}"
            )

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        if mode != schemathesis.GenerationMode.NEGATIVE:
            raise
        report.nothing_negative += 1
    except (Exception, FailureGroup) as exc:  # noqa: BLE001 (every failure is reported)
        where = f" on {fixed}" if fixed else ""
        first = str(exc).strip().splitlines()
        report.failures.append(
            f"{label} as {caller} ({mode.value}){where}: " + " | ".join(first[:12])
        )


def _admits(operation: Any, caller: str) -> bool:
    roles = operation.definition.raw.get("x-roles")
    return roles is None or caller in roles


def _record_valid(report: Report, label: str, case: Any, response: Any) -> None:
    report.positive[(label, response.status_code)] += 1
    if response.status_code != 422:
        return
    problem = response.json()
    if problem.get("code") not in SHAPE_CODES:
        return
    reasons = {(e.get("loc", ""), e.get("message", "")) for e in problem.get("errors") or []}
    if reasons and reasons <= RELATIONS:
        return
    where = {"path": case.path_parameters, "query": case.query, "body": case.body}
    report.shape_refusals.append(
        f"{label}: {problem['code']} {problem.get('detail', '')!r} "
        f"{problem.get('errors')} for {where!r}"[:600]
    )


def main(argv: list[str] | None = None) -> int:
    """Run a campaign on a fresh deployment and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--examples",
        type=int,
        default=100,
        help="examples per operation, caller, mode and path choice [100]",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="run on a fresh schema of this PostgreSQL server [fresh SQLite]",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="derandomise the generation (default: random each run)",
    )
    args = parser.parse_args(argv)
    from bench.common import postgres_schema
    from cardtrail.app import create_app
    from ledger_service.config import Settings

    with (
        tempfile.TemporaryDirectory(prefix="cardtrail-fuzz-") as tmp,
        contextlib.ExitStack() as stack,
    ):
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
    return 1 if report.failures or report.shape_refusals or report.mostly_rejected() else 0


if __name__ == "__main__":
    sys.exit(main())
