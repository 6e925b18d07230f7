"""``cardtrail import-cards`` and ``cardtrail expire``: bulk issuance and expiry.

An import reads a CSV file whose columns are the API's card fields plus ``row_key``, and
issues its rows in batches (one transaction each). A row is issued at most once per batch
reference (by default the file's name), so re-running an interrupted or repeated import
issues only what is missing. The redemption codes of newly issued cards go to a new CSV
file readable only by its owner (0600): CardTrail itself keeps no copy. Its cells are
spreadsheet-safe (:mod:`ledger_service.csv_cells`).

    >>> import io
    >>> rows = list(read_rows(io.StringIO("row_key,product,face_value,allowed_stores\\n"
    ...                                   "r1,Tea,1500,S1;S2\\n")))
    >>> rows
    [(2, {'row_key': 'r1', 'product': 'Tea', 'face_value': 1500, 'allowed_stores': ['S1', 'S2']})]
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
from tqdm import tqdm

from ledger_service import errors
from ledger_service.actor import SYSTEM
from ledger_service.cli_options import data_dir_option, load_settings, migrated_engine
from ledger_service.csv_cells import safe_row
from ledger_service.domain.cards import FIELDS, parse_card_spec
from ledger_service.service import MAX_BATCH, Ledger

DEFAULT_BATCH = 5_000
LIST_FIELDS = ("allowed_stores", "allowed_regions")
_INTEGER = re.compile(r"-?[0-9]+")
CODES_HEADER = ("row_key", "card_number", "redemption_code", "leaf_index")


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (e.g. a missing or unknown column)."""


@dataclass
class ImportSummary:
    """What an import did: counts, the rows that failed and where the codes went."""

    issued: int = 0
    skipped: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    codes_path: Path | None = None


def _cell(name: str, value: str) -> Any:
    value = value.strip()
    if value == "":
        return [] if name in LIST_FIELDS else None
    if name in LIST_FIELDS:
        return [item.strip() for item in value.split(";") if item.strip()]
    if name == "face_value" and _INTEGER.fullmatch(value):
        return int(value)
    return value


def read_rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line number, card dict)`` per data row; lists are ``;``-separated.

    Empty cells are left out, so a column may be present but blank where it does not apply.
    """
    reader = csv.DictReader(stream)
    columns = reader.fieldnames or []
    unknown = [c for c in columns if c not in FIELDS]
    if unknown:
        raise ImportFileError(f"unknown column {unknown[0]!r}; known: {', '.join(sorted(FIELDS))}")
    if "row_key" not in columns or "product" not in columns:
        raise ImportFileError("the file needs the columns row_key and product")
    for row in reader:
        card = {name: _cell(name, value or "") for name, value in row.items() if name is not None}
        yield reader.line_num, {k: v for k, v in card.items() if v not in (None, [])}


class _CodesFile:
    """The 0600 CSV of new redemption codes, created when the first card is issued."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._out: IO[str] | None = None
        self._writer: Any = None

    def write(self, cards: Iterable[dict[str, Any]]) -> None:
        if self._out is None:
            # O_EXCL: never append codes to, or overwrite, a file someone else prepared.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            self._out = os.fdopen(fd, "w", newline="")
            self._writer = csv.writer(self._out)
            self._writer.writerow(CODES_HEADER)
        for card in cards:
            row = [card.get("row_key", ""), *(card[k] for k in CODES_HEADER[1:])]
            self._writer.writerow(safe_row(row))
        # The cards are committed: their codes must survive a crash of this process.
        self._out.flush()
        os.fsync(self._out.fileno())

    def close(self) -> None:
        if self._out is not None:
            self._out.close()


def default_codes_path(source: Path, now: datetime) -> Path:
    """Where the codes of an import of ``source`` go unless told otherwise."""
    return source.with_name(f"{source.stem}.codes-{now:%Y%m%dT%H%M%SZ}.csv")


def import_cards(
    ledger: Ledger,
    source: Path,
    *,
    batch_ref: str | None = None,
    batch_size: int = DEFAULT_BATCH,
    codes_path: Path | None = None,
    progress: Callable[[int], None] = lambda _n: None,
) -> ImportSummary:
    """Issue every valid, not yet issued row of ``source``; see the module docstring.

    Rows that fail validation are reported (with their line numbers) and the rest go on.
    ``progress`` receives the number of rows handled after each batch.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch size must be 1 to {MAX_BATCH}, got {batch_size}")
    batch_ref = batch_ref or source.name
    summary = ImportSummary()
    codes = _CodesFile(codes_path or default_codes_path(source, datetime.now(UTC)))
    known_stores = {s["id"] for s in ledger.list_stores(SYSTEM)}
    seen: set[str] = set()
    pending: list[tuple[int, dict[str, Any]]] = []
    try:
        with source.open(newline="", encoding="utf-8-sig") as stream:
            for line, card in read_rows(stream):
                problem = _row_problem(card, known_stores, seen)
                if problem:
                    summary.failed.append((line, problem))
                    progress(1)
                    continue
                pending.append((line, card))
                if len(pending) == batch_size:
                    _issue_batch(ledger, batch_ref, pending, summary, codes)
                    progress(len(pending))
                    pending = []
            if pending:
                _issue_batch(ledger, batch_ref, pending, summary, codes)
                progress(len(pending))
    finally:
        codes.close()
    summary.codes_path = codes.path if summary.issued else None
    return summary


def _row_problem(card: dict[str, Any], known_stores: set[str], seen: set[str]) -> str | None:
    try:
        spec = parse_card_spec(card)
    except (TypeError, ValueError) as exc:
        return str(exc)
    if spec.row_key is None:
        return "row_key is empty"
    if spec.row_key in seen:
        return f"row_key {spec.row_key!r} appears earlier in the file"
    seen.add(spec.row_key)
    unknown = sorted(set(spec.allowed_stores) - known_stores)
    if unknown:
        return f"unknown store(s): {', '.join(unknown)}"
    return None


def _issue_batch(
    ledger: Ledger,
    batch_ref: str,
    rows: list[tuple[int, dict[str, Any]]],
    summary: ImportSummary,
    codes: _CodesFile,
) -> None:
    try:
        result = ledger.issue_cards(SYSTEM, batch_ref, [card for _, card in rows])
    except errors.LedgerError as exc:
        summary.failed.extend((line, f"batch refused: {exc.detail}") for line, _ in rows)
        return
    if result["cards"]:
        codes.write(result["cards"])
    summary.issued += len(result["cards"])
    summary.skipped += len(result["skipped"])


@contextmanager
def _ledger(data_dir: Path | None) -> Iterator[Ledger]:
    settings = load_settings(data_dir)
    secret = settings.secret_key()
    with migrated_engine(settings) as engine:
        yield Ledger(engine, secret)


def _count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8-sig") as stream:
        return max(sum(1 for _ in csv.reader(stream)) - 1, 0)


@click.command("import-cards")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--batch-size", default=DEFAULT_BATCH, show_default=True,
              type=click.IntRange(1, MAX_BATCH), help="Cards per transaction.")  # fmt: skip
@click.option("--batch-ref", default=None, metavar="REF",
              help="Name of the batch; a row key is issued once per batch "
                   "[default: the file name].")  # fmt: skip
@click.option("--codes-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="New file for the redemption codes "
                   "[default: FILE.codes-<time>.csv beside FILE].")  # fmt: skip
@data_dir_option
def import_cards_command(
    file: Path,
    batch_size: int,
    batch_ref: str | None,
    codes_out: Path | None,
    data_dir: Path | None,
) -> None:
    """Issue the cards listed in FILE (CSV), in batches, at most once per row key.

    Columns: row_key, product and optionally face_value (minor units), currency,
    expires_at (RFC 3339), allowed_stores and allowed_regions (separated by ';'),
    holder_ref. Exits 1 when some rows failed.
    """
    if codes_out is not None and codes_out.exists():
        raise click.UsageError(f"{codes_out} exists: the codes file must be new")
    with (
        _ledger(data_dir) as ledger,
        tqdm(total=_count_rows(file), unit="card", desc="import") as bar,
    ):
        try:
            summary = import_cards(
                ledger,
                file,
                batch_ref=batch_ref,
                batch_size=batch_size,
                codes_path=codes_out,
                progress=bar.update,
            )
        except ImportFileError as exc:
            raise click.UsageError(f"{file}: {exc}") from None
    click.echo(
        f"Issued {summary.issued}, skipped {summary.skipped} (issued before), "
        f"failed {len(summary.failed)}."
    )
    if summary.codes_path:
        click.echo(
            f"Redemption codes of the {summary.issued} new cards: {summary.codes_path.resolve()} "
            "(readable only by you). Hand it over securely and delete it: they are not "
            "stored anywhere else."
        )
    for line, problem in summary.failed[:20]:
        click.echo(f"  line {line}: {problem}", err=True)
    if len(summary.failed) > 20:
        click.echo(f"  … and {len(summary.failed) - 20} more failed rows", err=True)
    if summary.failed:
        raise SystemExit(1)


@click.command("expire")
@data_dir_option
def expire_command(data_dir: Path | None) -> None:
    """Write an EXPIRED event for every unused card whose expiry date has passed, after
    returning every gift offer nobody accepted in time (GIFT_RETURNED) to its giver.

    Run it from a systemd timer or cron in production (docs/production.md); a progress
    bar on standard error shows a long backlog going down, a batch at a time.
    """
    with _ledger(data_dir) as ledger:
        returned = ledger.return_due_gifts(SYSTEM)
        with tqdm(total=ledger.count_due(), unit="card", desc="expire") as bar:
            count = ledger.expire_due(SYSTEM, progress=bar.update)
    click.echo(f"Returned {returned} gift{'' if returned == 1 else 's'}.")
    click.echo(f"Expired {count} card{'' if count == 1 else 's'}.")
