"""The expiry scheduler of ``cardtrail up`` and the progress of ``cardtrail expire``."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner

from cardtrail.cli import main
from ledger_service.actor import Actor
from ledger_service.config import ConfigError, Settings
from ledger_service.expiry_timer import ExpiryTimer

pytest_plugins = ["ledger_fixtures"]

HQ = Actor("hq", "tok_timer")


def issue(ledger, expires_at) -> str:
    cards = ledger.issue_cards(HQ, "T", [{"product": "Tea", "expires_at": expires_at}])
    return cards["cards"][0]["card_number"]


def test_a_tick_expires_the_cards_past_their_date(ledger, clock):
    due = issue(ledger, (clock.now + timedelta(hours=1)).isoformat())
    timer = ExpiryTimer(ledger, 60)
    assert timer.tick() == 0
    clock.advance(hours=2)
    assert timer.tick() == 1
    assert ledger.get_card(HQ, due)["state"] == "EXPIRED"
    assert timer.expired == 1


def test_run_ticks_until_stopped(ledger, clock):
    due = issue(ledger, (clock.now + timedelta(minutes=1)).isoformat())
    clock.advance(minutes=2)
    stop = threading.Event()
    stop.set()  # already told to stop: one tick, then it returns
    ExpiryTimer(ledger, 3600).run(stop)
    assert ledger.get_card(HQ, due)["state"] == "EXPIRED"


def test_a_tick_gives_an_unaccepted_gift_back_to_its_giver(ledger, clock):
    from ledger_service.service.gift_commands import GIFT_HOURS

    batch = [{"product": "Tea"}]
    [card] = ledger.issue_cards(HQ, "G", batch, active=True)["cards"]
    ledger.offer_gift(HQ, card["card_number"], card["redemption_code"])
    assert ledger.get_card(HQ, card["card_number"])["state"] == "GIFT_OFFERED"
    clock.advance(hours=GIFT_HOURS + 1)
    ExpiryTimer(ledger, 60).tick()
    assert ledger.get_card(HQ, card["card_number"])["state"] == "ISSUED"


class Failing:
    def return_due_gifts(self, actor=None) -> int:
        return 0

    def expire_due(self, actor=None) -> int:
        raise OSError("database went away")


def test_a_failed_run_is_logged_and_does_not_stop_the_timer(caplog):
    timer = ExpiryTimer(Failing(), 5)
    with caplog.at_level(logging.ERROR, logger="cardtrail.expiry"):
        assert timer.tick() == 0
    assert "expiry run failed" in caplog.text


def test_the_interval_is_a_setting_and_zero_turns_it_off(tmp_path):
    assert Settings.from_env(tmp_path, environ={}).expiry_interval == 60.0
    off = Settings.from_env(tmp_path, environ={"CARDTRAIL_EXPIRY_INTERVAL": "0"})
    assert off.expiry_interval == 0
    with pytest.raises(ValueError):
        ExpiryTimer(Failing(), off.expiry_interval)
    with pytest.raises(ConfigError, match="CARDTRAIL_EXPIRY_INTERVAL"):
        Settings.from_env(tmp_path, environ={"CARDTRAIL_EXPIRY_INTERVAL": "soon"})


def test_expire_command_shows_progress_batch_by_batch(db_url, tmp_path, monkeypatch):
    from ledger_service.service import expiry

    env = {"DATABASE_URL": db_url, "CARDTRAIL_DATA_DIR": str(tmp_path / "data")}
    source = tmp_path / "cards.csv"
    rows = "".join(f"p{i},Tea,,,,,2020-01-01T00:00:00Z,\n" for i in range(5))
    source.write_text(
        "row_key,product,face_value,currency,allowed_stores,allowed_regions,expires_at,"
        "holder_ref\n" + rows
    )
    runner = CliRunner()
    imported = runner.invoke(
        main, ["import-cards", str(source), "--codes-out", str(tmp_path / "c.csv")], env=env
    )
    assert imported.exit_code == 0, imported.output
    monkeypatch.setattr(expiry, "EXPIRY_BATCH", 2)
    result = runner.invoke(main, ["expire"], env=env)
    assert result.exit_code == 0, result.output
    assert "Expired 5 cards." in result.output
    assert "5/5" in result.output  # the bar reached its total, counted before the run
