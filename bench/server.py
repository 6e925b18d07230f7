"""The application gunicorn serves in the HTTP benchmarks (``bench.server:app``).

The production app (``cardtrail.wsgi``) with its rate limits off: every benchmark
client talks from 127.0.0.1 with one token, so the per-address and per-token limits — a
defence, not part of the path being measured — would refuse the load after a few hundred
requests. Everything else (authentication, validation, idempotency records, security
headers, the full Ledger and portal code) runs as in production.
"""

from __future__ import annotations

import gc

from cardtrail.app import create_app
from ledger_service.config import Settings

LIMITS_OFF = {
    "API_RATE_LIMIT": None,
    "PUBLIC_RATE_LIMIT_PER_IP": None,
    "PUBLIC_RATE_LIMIT_PER_CLIENT_CARD": None,
}

app = create_app(Settings.from_env(), test_config=LIMITS_OFF)
gc.freeze()  # as cardtrail.wsgi does, for the same reason
