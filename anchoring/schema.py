"""The tables that the ``anchoring`` package owns (SQLAlchemy Core).

Migrations live in ``ledger_service/migrations`` (branch ``anchoring``); a test keeps them
equal to this metadata.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
