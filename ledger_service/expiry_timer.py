"""The expiry scheduler of ``cardtrail up``: expires cards on time, without a cron job.

Every ``CARDTRAIL_EXPIRY_INTERVAL`` seconds (default 60; 0 turns it off) it runs
:meth:`Ledger.return_due_gifts <ledger_service.service.Ledger.return_due_gifts>`, which
gives every gift offer nobody accepted in time back to its giver (GIFT_RETURNED), then
:meth:`Ledger.expire_due <ledger_service.service.Ledger.expire_due>`, which writes the
EXPIRED events of the cards whose date has passed, a batch per transaction. Until it
has, commands and pages already treat such a card as expired
(:mod:`ledger_service.domain.expiry_dates`), so the interval only decides how soon the
log says so. In production, a systemd timer or cron line runs ``cardtrail expire``
instead (docs/production.md): the web processes under gunicorn run no scheduler.
"""

from __future__ import annotations

import logging
import threading
from typing import Protocol

from ledger_service.actor import SYSTEM, Actor

logger = logging.getLogger("cardtrail.expiry")


class Expires(Protocol):
    """What the timer needs of the ledger."""

    def return_due_gifts(self, actor: Actor = ...) -> int:
        """Return the gift offers past their time to their givers; how many."""
        ...

    def expire_due(self, actor: Actor = ...) -> int:
        """Expire the cards past their date; how many."""
        ...


class ExpiryTimer:
    """Runs the expiry job every ``interval`` seconds until told to stop."""

    def __init__(self, ledger: Expires, interval: float) -> None:
        if interval <= 0:
            raise ValueError("the expiry interval must be positive")
        self._ledger = ledger
        self.interval = interval
        self.expired = 0
        """Cards expired since the timer started."""

    def tick(self) -> int:
        """One run of the job; how many cards it expired. A failure (the database away
        for a moment) is logged and tried again at the next tick: it must not stop the
        web app or the anchoring worker that run beside it."""
        try:
            returned = self._ledger.return_due_gifts(SYSTEM)
            count = self._ledger.expire_due(SYSTEM)
        except Exception:
            logger.exception("expiry run failed; trying again in %g s", self.interval)
            return 0
        if returned:
            logger.info(
                "returned %d gift offer%s past their time", returned, "" if returned == 1 else "s"
            )
        if count:
            logger.info("expired %d card%s past their date", count, "" if count == 1 else "s")
        self.expired += count
        return count

    def run(self, stop: threading.Event) -> None:
        """Tick at once, then every ``interval`` seconds, until ``stop`` is set."""
        while True:
            self.tick()
            if stop.wait(self.interval):
                return
