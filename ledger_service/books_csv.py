"""The books as CSV files for spreadsheets: the books (by product and channel), the daily
close and the reminder list.

Each file is UTF-8 with a byte-order mark, which is what makes Excel read the Chinese
product and store names as UTF-8 rather than in the machine's legacy code page; lines
end in CRLF, amounts are plain decimals of the currency (``1234.50``), and every cell
goes through :func:`ledger_service.csv_cells.safe_row`, so that nothing someone typed (a
product name, a store name, a holder reference) runs as a formula.

    >>> data = csv_bytes(["name", "amount"], [["=1+2", "12.00"]])
    >>> data[:3] == BOM, data[3:].decode()
    (True, "name,amount\\r\\n'=1+2,12.00\\r\\n")
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from ledger_service.books import DailyClose, Figures, plain_amount
from ledger_service.books_sql import Reminder
from ledger_service.csv_cells import safe_row

BOM = "\ufeff".encode()
"""The UTF-8 byte-order mark that tells Excel the file is UTF-8."""


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A spreadsheet-safe CSV file: BOM, header, rows; every cell neutralised."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(safe_row(header))
    for row in rows:
        writer.writerow(safe_row(row))
    return BOM + out.getvalue().encode()


def books_csv(
    figures: Iterable[Figures],
    by: str,
    names: Mapping[str, str] | None = None,
) -> bytes:
    """The books per ``by`` (``product``, ``channel`` or ``total``) and currency."""
    names = names or {}
    header = [
        by,
        "name",
        "currency",
        "cards_sold",
        "sales",
        "face_value_sold",
        "liability",
        "breakage",
        "redeemed_net",
    ]
    return csv_bytes(
        header,
        (
            [
                f.key,
                names.get(f.key, ""),
                f.currency,
                f.sold,
                plain_amount(f.sales, f.currency),
                plain_amount(f.face_value_sold, f.currency),
                plain_amount(f.liability, f.currency),
                plain_amount(f.breakage, f.currency),
                plain_amount(f.redeemed_value, f.currency),
            ]
            for f in figures
        ),
    )


def daily_close_csv(rows: Iterable[DailyClose], names: Mapping[str, str]) -> bytes:
    """The daily close (日结): one line per business day, store and currency."""
    header = [
        "business_day",
        "store_id",
        "store",
        "currency",
        "redemptions",
        "redeemed",
        "pickups",
        "picked_up",
        "refunds",
        "refunded",
        "net",
        "cards_sold",
        "sales",
        "loads",
        "loaded",
    ]
    return csv_bytes(
        header,
        (
            [
                r.day,
                r.store_id,
                names.get(r.store_id, ""),
                r.currency,
                r.redeemed,
                plain_amount(r.redeemed_value, r.currency),
                r.picked_up,
                plain_amount(r.picked_up_value, r.currency),
                r.refunded,
                plain_amount(r.refunded_value, r.currency),
                plain_amount(r.net, r.currency),
                r.sold,
                plain_amount(r.sold_value, r.currency),
                r.loaded,
                plain_amount(r.loaded_value, r.currency),
            ]
            for r in rows
        ),
    )


def reminders_csv(reminders: Iterable[Reminder], zone: ZoneInfo, personal: bool) -> bytes:
    """Cards expiring soon, with local expiry times; the holder reference only when
    ``personal`` (the reader may see it, :data:`ledger_service.card_views.PERSONAL_READERS`)."""
    header = [
        "card_number",
        "product",
        "kind",
        "state",
        "expires_at_local",
        "currency",
        "value_left",
    ]
    return csv_bytes(
        header + (["holder_ref"] if personal else []),
        (
            [
                r.card_number,
                r.product,
                r.kind,
                r.state,
                r.expires_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                r.currency,
                plain_amount(r.value_left, r.currency),
            ]
            + ([r.holder_ref or ""] if personal else [])
            for r in reminders
        ),
    )
