"""Attackers at the public door: enumerating card numbers, guessing redemption codes.

Each test is a small campaign that prints what it tried and what held. The rate limits run
at their documented defaults (docs/portal.md), so the figures checked here are the ones
operators read. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from ledger_service.auth import create_token
from ledger_service.domain import lockout
from ledger_service.domain.codes import generate_code
from ledger_service.domain.numbers import (
    ALPHABET,
    BODY_LENGTH,
    check_character,
    format_card_number,
    generate_card_number,
)
from ledger_service.runtime import DEFAULT_PUBLIC_CLIENT_CARD_LIMIT as DEFAULT_CARD_LIMIT
from ledger_service.runtime import DEFAULT_PUBLIC_IP_LIMIT as DEFAULT_IP_LIMIT
from ledger_service.schema import code_failures
from portal.console import CSRF_KEY

DOCS = Path(__file__).resolve().parents[2] / "docs" / "portal.md"
PUBLIC_ROUTES = ("/c/{n}", "/api/v1/public/cards/{n}", "/api/v1/public/cards/{n}/bundle")


def _scrub(body: str, number: str) -> str:
    # Only the number the attacker typed may differ between two "no" answers.
    for form in (number, format_card_number(number), number.lower()):
        body = body.replace(form, "<number>")
    return body


def _answer(response, number: str) -> tuple[int, str, str, tuple[str, ...]]:
    headers = tuple(sorted(k for k in response.headers if k != "Content-Length"))
    return (
        response.status_code,
        response.mimetype,
        _scrub(response.get_data(as_text=True), number),
        headers,
    )


def _unissued(issued: set[str], n: int) -> list[str]:
    out = []
    while len(out) < n:
        number = generate_card_number()
        if number not in issued:
            out.append(number)
    return out


def test_documented_rate_limit_figures_are_the_ones_in_force():
    text = DOCS.read_text(encoding="utf-8")
    per_ip = re.search(r"Per client address.*?\|\s*(\d+) per (\d+) s\s*\|", text)
    per_card = re.search(r"Per card number and client address.*?\|\s*(\d+) per (\d+) s\s*\|", text)
    assert per_ip and per_card, "docs/portal.md lost its rate-limit table"
    assert (int(per_ip[1]), float(per_ip[2])) == DEFAULT_IP_LIMIT
    assert (int(per_card[1]), float(per_card[2])) == DEFAULT_CARD_LIMIT


def test_every_kind_of_no_gets_the_same_answer(client, cards, capsys):
    issued = {cards.issue()[0] for _ in range(3)}
    known = min(issued)
    unknown = _unissued(issued, 12)
    # Kinds of "no" for a well-formed number: never issued (many), typed in lower case
    # or with separators, and a number that differs from a real one in its body only.
    near = known[1:16] + known[0]
    variants = unknown + [near + check_character(near)]
    answers: dict[str, set] = {route: set() for route in PUBLIC_ROUTES}
    tried = 0
    for i, number in enumerate(variants):
        for route in PUBLIC_ROUTES:
            typed = number if i % 3 else format_card_number(number).lower()
            response = client.get(
                route.format(n=typed), environ_base={"REMOTE_ADDR": f"10.1.{i}.1"}
            )
            answers[route].add(_answer(response, number))
            tried += 1
    for route, seen in answers.items():
        assert len(seen) == 1, f"{route}: {len(seen)} different answers to unknown numbers"
        [(status, _, _, _)] = seen
        assert status == 404, route
    # A real card answers 200 on the same routes: the identical answers above are the
    # "not found" ones, not a page that says nothing for everyone.
    assert (
        client.get(
            f"/api/v1/public/cards/{known}", environ_base={"REMOTE_ADDR": "10.9.9.9"}
        ).status_code
        == 200
    )
    with capsys.disabled():
        print(
            f"\nenumeration: {tried} lookups of {len(variants)} unissued numbers on "
            f"{len(PUBLIC_ROUTES)} routes → 1 distinct answer per route (404)"
        )


def test_one_client_enumerating_numbers_is_stopped_at_the_per_client_limit(client, cards, capsys):
    issued = {cards.issue()[0]}
    limit, window = DEFAULT_IP_LIMIT
    probes = _unissued(issued, limit + 40)
    statuses = [client.get(f"/api/v1/public/cards/{n}").status_code for n in probes]
    answered = statuses.count(404)
    assert statuses[:limit] == [404] * limit and set(statuses[limit:]) == {429}
    # Once limited, a real card and an unknown one look the same too.
    real = client.get(f"/api/v1/public/cards/{next(iter(issued))}")
    fake = client.get(f"/api/v1/public/cards/{probes[0]}")
    assert real.status_code == fake.status_code == 429
    assert real.get_data() == fake.get_data()
    space = len(ALPHABET) ** BODY_LENGTH
    with capsys.disabled():
        print(
            f"\nper client: {len(probes)} probes → {answered} answered, "
            f"{len(probes) - answered} refused (429); limit {limit} per {window:g} s. "
            f"With 10^7 cards issued, one client finds a card once in "
            f"{space / 10**7 / (limit / window) / 86400 / 365:.2e} years"
        )


def test_a_client_rotating_through_its_ipv6_64_is_still_one_client(client, cards, capsys):
    issued = {cards.issue()[0]}
    limit, window = DEFAULT_IP_LIMIT
    probes = _unissued(issued, limit + 20)
    statuses = [
        client.get(
            f"/api/v1/public/cards/{n}",
            environ_base={"REMOTE_ADDR": f"2001:db8:7:7:{i:x}::1"},
        ).status_code
        for i, n in enumerate(probes)
    ]
    assert statuses[:limit] == [404] * limit and set(statuses[limit:]) == {429}
    neighbour = client.get(
        f"/api/v1/public/cards/{probes[0]}", environ_base={"REMOTE_ADDR": "2001:db8:7:8::1"}
    )
    assert neighbour.status_code == 404
    with capsys.disabled():
        print(
            f"\nIPv6: {len(probes)} probes from {len(probes)} addresses of one /64 → "
            f"{statuses.count(404)} answered, {statuses.count(429)} refused; the next /64 "
            f"is another client"
        )


def test_one_client_on_one_card_is_stopped_at_its_per_card_limit(client, cards, capsys):
    number, _ = cards.issue()
    limit, window = DEFAULT_CARD_LIMIT
    statuses = [client.get(f"/api/v1/public/cards/{number}").status_code for _ in range(limit + 10)]
    assert statuses[:limit] == [200] * limit and set(statuses[limit:]) == {429}
    with capsys.disabled():
        print(
            f"\nper client and card: {len(statuses)} lookups of one card from one address → "
            f"{statuses.count(200)} answered, {statuses.count(429)} refused; "
            f"limit {limit} per {window:g} s"
        )


def test_many_clients_on_one_card_cannot_spend_a_stranger_s_lookups(client, cards, capsys):
    number, _ = cards.issue()
    limit, window = DEFAULT_CARD_LIMIT
    addresses = 8
    statuses = [
        client.get(
            f"/api/v1/public/cards/{number}", environ_base={"REMOTE_ADDR": f"10.2.0.{i}"}
        ).status_code
        for i in range(addresses)
        for _ in range(limit + 5)
    ]
    assert statuses.count(200) == addresses * limit and statuses.count(429) == addresses * 5
    fresh = client.get(f"/api/v1/public/cards/{number}", environ_base={"REMOTE_ADDR": "10.2.1.1"})
    assert fresh.status_code == 200
    with capsys.disabled():
        print(
            f"\nmany clients, one card: {len(statuses)} lookups from {addresses} addresses → "
            f"{statuses.count(200)} answered, {statuses.count(429)} refused (each address "
            f"past its own {limit} per {window:g} s); a fresh client's lookup → 200"
        )


def _console_session(app, token: str):
    client = app.test_client()
    client.get("/console/login")
    with client.session_transaction() as session:
        csrf = session.get(CSRF_KEY, "")
    assert (
        client.post("/console/login", data={"token": token, "csrf_token": csrf}).status_code == 303
    )
    return client


def test_guessing_a_redemption_code_locks_it_after_five_failures(app, client, cards, capsys):
    store = cards.store("S1")
    number, code = cards.issue()
    rt = app.extensions["cardtrail"]
    staff = create_token(rt.engine, rt.secret_key, "store", store).token
    hq = create_token(rt.engine, rt.secret_key, "hq").token
    with read_transaction(rt.engine) as conn:
        size = MerkleLog(conn).size()

    def redeem(guess: str, i: int):
        return client.post(
            f"/api/v1/cards/{number}/redeem",
            json={"redemption_code": guess},
            headers={"Authorization": f"Bearer {staff}", "Idempotency-Key": f"guess-{i}"},
        )

    guesses = [generate_code() for _ in range(20)]
    answers = [redeem(g, i) for i, g in enumerate(guesses)]
    codes = [a.get_json()["code"] for a in answers]
    failures = lockout.MAX_FAILURES
    assert codes[:failures] == ["INVALID_CODE"] * failures
    assert codes[failures:] == ["CODE_LOCKED"] * (len(guesses) - failures)
    assert [a.get_json().get("attempts_left") for a in answers[: failures - 1]] == [4, 3, 2, 1]
    right = redeem(code, 99)
    assert right.status_code == 423 and right.get_json()["code"] == "CODE_LOCKED"
    assert int(right.headers["Retry-After"]) > 0
    with read_transaction(rt.engine) as conn:
        assert MerkleLog(conn).size() == size, "a refused guess wrote to the log"
        rows = conn.execute(
            sa.select(code_failures.c.outcome, code_failures.c.actor_id, code_failures.c.store_id)
            .where(code_failures.c.card_number == number)
            .order_by(code_failures.c.id)
        ).all()
    outcomes = [r.outcome for r in rows]
    assert outcomes == ["wrong"] * failures + ["locked"] * (len(guesses) + 1 - failures)
    assert {(r.actor_id, r.store_id) for r in rows} == {(f"tok_{staff.split('_')[1]}", store)}
    # Headquarters sees the lock on the console: the dashboard's locked list and anomaly.
    html = _console_session(app, hq).get("/console/dashboard").get_data(as_text=True)
    assert format_card_number(number) in html.split('id="locked"')[1]
    assert 'data-kind="code_locked"' in html
    with capsys.disabled():
        print(
            f"\ncode guessing: {len(guesses) + 1} attempts (the last with the right code) → "
            f"{codes.count('INVALID_CODE')} INVALID_CODE, {len(guesses) + 1 - failures} "
            f"CODE_LOCKED; {len(rows)} failures recorded; log unchanged; lock on the dashboard"
        )
