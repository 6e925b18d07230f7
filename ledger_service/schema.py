"""The tables that the ledger service owns (SQLAlchemy Core).

Migrations live in ``ledger_service/migrations`` (branch ``ledger``); a test keeps them
equal to this metadata.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
