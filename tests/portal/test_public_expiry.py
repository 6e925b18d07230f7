"""The public page calls a card past its date expired even before the expiry job has
written its EXPIRED event — and a cached answer does not outlive the date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ledger_service.actor import Actor
from portal import bundles, public

HQ = Actor("hq", "tok_public_expiry")

FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


class Later(datetime):
    """``datetime`` whose present is far in the future."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        return FAR_FUTURE if tz is None else FAR_FUTURE.astimezone(tz)


def status(client, number: str) -> str:
    return client.get(f"/api/v1/public/cards/{number}").get_json()["status"]


def test_a_card_past_its_date_is_expired_before_the_job_runs(client, cards):
    number, _ = cards.issue(expires_at="2020-01-01T00:00:00Z")
    cards.anchor()
    assert cards.ledger.get_card(HQ, number)["state"] == "ISSUED"
    page = client.get(f"/c/{number}").get_data(as_text=True)
    assert 'data-status="expired"' in page
    assert status(client, number) == "expired"


def test_the_cached_page_changes_when_the_date_passes(client, cards, monkeypatch):
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    number, _ = cards.issue(expires_at=expires)
    cards.anchor()
    first = client.get(f"/c/{number}")
    assert 'data-status="unused"' in first.get_data(as_text=True)
    monkeypatch.setattr(public, "datetime", Later)
    monkeypatch.setattr(bundles, "datetime", Later)
    again = client.get(f"/c/{number}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 200, "the old tag must not match once the date has passed"
    assert 'data-status="expired"' in again.get_data(as_text=True)
    assert status(client, number) == "expired"


def test_a_pickup_under_way_is_not_called_expired_after_the_date(client, cards, monkeypatch):
    number, code = cards.issue(expires_at=(datetime.now(UTC) + timedelta(days=1)).isoformat())
    cards.ledger.claim(HQ, number, "crm-1")
    cards.ledger.request_pickup(HQ, number, "delivery", code, address_ref="a")
    cards.anchor()
    monkeypatch.setattr(public, "datetime", Later)
    monkeypatch.setattr(bundles, "datetime", Later)
    assert status(client, number) == "used"
