"""``cardtrail up`` expires cards on time with its own scheduler thread."""

from __future__ import annotations

import dataclasses
import threading

from cardtrail.run import _expiry_thread
from ledger_service.actor import Actor

HQ = Actor("hq", "tok_up_expiry")


def test_up_runs_an_expiry_thread_that_expires_cards_past_their_date(app, settings):
    ledger = app.extensions["cardtrail"].ledger
    issued = ledger.issue_cards(HQ, "B", [{"product": "Tea", "expires_at": "2020-01-01T00:00:00Z"}])
    number = issued["cards"][0]["card_number"]
    stop = threading.Event()
    stop.set()  # one run, then the thread ends
    thread = _expiry_thread(settings, app, stop)
    assert thread is not None and thread.name == "expiry"
    thread.start()
    thread.join()
    assert ledger.get_card(HQ, number)["state"] == "EXPIRED"


def test_an_interval_of_zero_runs_no_scheduler(app, settings):
    off = dataclasses.replace(settings, expiry_interval=0)
    assert _expiry_thread(off, app, threading.Event()) is None
