"""Signing redemptions and pickup handovers at the counter and sending the queue to the
service."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ledger_service import devices
from ledger_service.domain import pickups as pickup_rules
from ledger_service.domain.numbers import CardNumberError, normalize_card_number
from ledger_service.events import utc_now
from store_client.device import DeviceKey
from store_client.errors import Offline, StoreClientError
from store_client.queue import Queue

BATCH = 200
"""Items per sync request (the service takes up to 500)."""
TIMEOUT = 10.0
"""Seconds to wait for the service's answer."""


@dataclass(frozen=True)
class SyncReport:
    """What one sync did: the service's results, and whether it was reachable."""

    results: list[dict[str, Any]]
    offline: bool
    pending: int


Transport = Callable[[str, dict[str, Any] | None, dict[str, str]], tuple[int, dict[str, Any]]]
"""Sends one request: ``(url, JSON body or None for a GET, headers) -> (status, JSON answer)``."""


def http_request(
    url: str, body: dict[str, Any] | None, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` as JSON, or GET when it is None; (status, JSON answer). Raises
    :class:`Offline` when nobody answers."""
    request = urllib.request.Request(
        url,
        data=None if body is None else json.dumps(body).encode(),
        headers=headers if body is None else {"Content-Type": "application/json", **headers},
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}
    except (urllib.error.URLError, OSError) as exc:
        raise Offline(f"service unreachable: {getattr(exc, 'reason', exc)}") from None


class StoreClient:
    """A store device: signs commands, queues them, and syncs the queue."""

    def __init__(
        self,
        queue: Queue,
        key: DeviceKey,
        store_id: str,
        server: str,
        token: str,
        *,
        transport: Transport = http_request,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.queue = queue
        self.key = key
        self.store_id = store_id
        self._server = server.rstrip("/")
        self._token = token
        self._transport = transport
        self._clock = clock

    def __repr__(self) -> str:
        return f"StoreClient(store={self.store_id}, key={self.key.address})"

    def deployment(self) -> devices.SigningDomain:
        """The deployment this device signs for: kept in the queue, or learned from the
        service now; StoreClientError if it was never reachable."""
        known = self.queue.deployment()
        if known is not None:
            return known
        try:
            served = self._served_deployment()
        except Offline:
            raise StoreClientError(
                "this device does not know which deployment it signs for yet: it learns that "
                "from the service on first contact, so run `cardtrail store-client sync` once "
                "while the service is reachable"
            ) from None
        return self.queue.remember_deployment(served, self._server, self._clock())

    def _served_deployment(self) -> devices.SigningDomain:
        """The deployment the service says it is (``GET /api/v1/chain``)."""
        status, answer = self._transport(f"{self._server}/api/v1/chain", None, {})
        if status >= 500:
            raise Offline(f"the service answered {status}")
        if status != 200:
            raise StoreClientError(f"the service did not say which deployment it is ({status})")
        if isinstance(answer, dict) and answer.get("contract") is None:
            raise StoreClientError(
                f"the service at {self._server} has no deployed LedgerAnchor contract yet, so "
                "there is no deployment to sign for: wait until `cardtrail up` deploys it"
            )
        try:
            return devices.SigningDomain.from_json(answer)
        except ValueError as exc:
            raise StoreClientError(
                f"the service's chain answer is not a deployment: {exc}"
            ) from None

    def _check_deployment(self) -> None:
        """Refuse a service of another deployment than the one this device signs for."""
        served = self._served_deployment()
        known = self.queue.remember_deployment(served, self._server, self._clock())
        if served != known:
            raise StoreClientError(
                f"the service at {self._server} is anchored to {served.describe()}, but this "
                f"device signs for {known.describe()}: it belongs to another deployment, so "
                "nothing was sent"
            )

    def queue_redemption(
        self, card_number: str, redemption_code: str, amount: int | None = None
    ) -> str:
        """Sign and queue a redemption made now, for this device's deployment; returns its
        client id.

        ``amount``: what a stored-value card pays (minor units of its currency) or the uses
        a count card spends, signed with the rest; None for a pickup card, used whole. The
        service refuses to log any other amount under this signature.
        """
        try:
            number = normalize_card_number(card_number)
        except CardNumberError as exc:
            raise StoreClientError(f"not a card number: {exc}") from None
        if amount is not None and (not devices.is_amount(amount) or amount == 0):
            raise StoreClientError(f"the amount must be a whole number above 0, not {amount!r}")
        domain = self.deployment()
        client_id = "c-" + secrets.token_hex(12)
        now = self._clock()
        command = devices.StoreCommand(
            number,
            "redeem",
            self.store_id,
            "",
            devices.timestamp(now),
            client_id,
            amount=amount or 0,
        )
        item = {
            "action": "redeem",
            "card_number": number,
            "redemption_code": redemption_code,
            **({} if amount is None else {"amount": amount}),
            "signature": self.key.sign(command, domain).to_json(),
        }
        self.queue.add(item, now)
        return client_id

    def fetch_ready(self) -> int:
        """Learn this store's ready pickups and their code secrets from the service
        (``GET /api/v1/pickups/ready``, over the store token); returns how many. Run it
        while online, so that codes can be checked when the service is out of reach."""
        status, answer = self._transport(
            f"{self._server}/api/v1/pickups/ready", None, {"Authorization": f"Bearer {self._token}"}
        )
        if status >= 500:
            raise Offline(f"the service answered {status}")
        if status != 200:
            raise StoreClientError(f"the service refused the list: {answer.get('code', status)}")
        return self.queue.keep_ready(list(answer["pickups"]), self._clock())

    def queue_pickup_completion(
        self, pickup_id: str, rotating_code: str, serials: list[str] | None = None
    ) -> str:
        """Hand a ready pickup over against the customer's rotating code, checked here
        (works offline: the code's secret came with :meth:`fetch_ready`); sign and queue
        the completion with the bottle ``serials``; returns its client id.

        The service checks the code again at the signing time when the queue is synced.
        A wrong code is refused here without being queued (the service counts wrong codes
        only when it sees them).
        """
        known = self.queue.ready(pickup_id)
        if known is None:
            raise StoreClientError(
                f"pickup {pickup_id} is not in this device's ready list: fetch it while online"
            )
        number, secret = known
        now = self._clock()
        if not pickup_rules.rotating_code_matches(secret, rotating_code, now):
            raise StoreClientError("wrong pickup code: ask the customer for the code shown now")
        try:
            checked = list(pickup_rules.check_serials(serials or []))
        except ValueError as exc:
            raise StoreClientError(str(exc)) from None
        domain = self.deployment()
        client_id = "c-" + secrets.token_hex(12)
        command = devices.StoreCommand(
            number, "pickup_complete", self.store_id, pickup_id, devices.timestamp(now), client_id
        )
        item = {
            "action": "pickup_complete",
            "pickup_id": pickup_id,
            "credential": "rotating_code",
            "code": rotating_code.strip(),
            "serials": checked,
            "signature": self.key.sign(command, domain).to_json(),
        }
        self.queue.add_completion(item, now)
        return client_id

    def complete_pickup(
        self, pickup_id: str, rotating_code: str, serials: list[str] | None = None
    ) -> tuple[str, SyncReport]:
        """Queue a checked completion and try to send the queue; (client id, report)."""
        client_id = self.queue_pickup_completion(pickup_id, rotating_code, serials)
        return client_id, self.sync()

    def sync(self) -> SyncReport:
        """Check that the service is this device's deployment (learning it on first
        contact), then send every pending item, oldest first, until the queue is empty or
        the service is out of reach."""
        results: list[dict[str, Any]] = []
        try:
            self._check_deployment()
        except Offline:
            return SyncReport(results, offline=True, pending=len(self.queue.pending()))
        while True:
            batch = self.queue.pending(BATCH)
            if not batch:
                return SyncReport(results, offline=False, pending=0)
            try:
                status, answer = self._transport(
                    f"{self._server}/api/v1/sync",
                    {"items": [q.item for q in batch]},
                    {
                        "Authorization": f"Bearer {self._token}",
                        "Idempotency-Key": "sync-" + secrets.token_hex(12),
                    },
                )
            except Offline:
                return SyncReport(results, offline=True, pending=len(self.queue.pending()))
            if status >= 500:
                return SyncReport(results, offline=True, pending=len(self.queue.pending()))
            if status != 200:
                raise StoreClientError(
                    f"the service refused the batch: {answer.get('code', status)} "
                    f"{answer.get('detail', '')}".rstrip()
                )
            sent = {q.client_id for q in batch}
            if {r.get("client_id") for r in answer.get("results", [])} != sent:
                raise StoreClientError("the service's answer does not match the batch sent")
            self.queue.settle(answer["results"], self._clock())
            results.extend(answer["results"])

    def redeem(
        self, card_number: str, redemption_code: str, amount: int | None = None
    ) -> tuple[str, SyncReport]:
        """Queue a redemption (of ``amount``, see :meth:`queue_redemption`) and try to send
        the queue; (client id, sync report)."""
        client_id = self.queue_redemption(card_number, redemption_code, amount)
        return client_id, self.sync()
