"""Bulk issuance from CSV and the expiry command."""

from __future__ import annotations

import csv
import stat

import pytest
from click.testing import CliRunner

from anchoring.db import read_transaction
from anchoring.log import MerkleLog
from cardtrail.cli import main
from ledger_service.actor import Actor
from ledger_service.imports import ImportFileError, import_cards

pytest_plugins = ["ledger_fixtures"]

HQ = Actor("hq", "tok_hq")
STORE1 = Actor("store", "tok_s1", store_id="S1")
HEADER = (
    "row_key,product,face_value,currency,allowed_stores,allowed_regions,expires_at,holder_ref\n"
)
GOOD = [
    "r1,Moutai 500ml,150000,CNY,S1;S2,,2027-01-31T23:59:59Z,\n",
    "r2,Tea 250g,,,,south,,cust-9\n",
    "r3,Mooncakes,8800,CNY,,,,\n",
]


def write(path, *lines):
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def read_codes(path) -> list[dict[str, str]]:
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def log_size(ledger) -> int:
    with read_transaction(ledger._engine) as conn:
        return MerkleLog(conn).size()


def test_import_issues_valid_rows_and_reports_the_others(ledger, stores, tmp_path):
    source = write(
        tmp_path / "cards.csv",
        *GOOD[:2],
        "r4,,100,CNY,,,,\n",
        "r5,Tea,1.50,CNY,,,,\n",
        "r6,Tea,,,S9,,,\n",
        "r1,Again,,,,,,\n",
        GOOD[2],
    )
    summary = import_cards(ledger, source, batch_size=2)
    assert (summary.issued, summary.skipped) == (3, 0)
    assert [line for line, _ in summary.failed] == [4, 5, 6, 7]
    assert "product" in summary.failed[0][1] and "S9" in summary.failed[2][1]
    assert "earlier in the file" in summary.failed[3][1]
    assert stat.S_IMODE(summary.codes_path.stat().st_mode) == 0o600
    codes = read_codes(summary.codes_path)
    assert [c["row_key"] for c in codes] == ["r1", "r2", "r3"]
    card = ledger.get_card(HQ, codes[0]["card_number"])
    assert (card["product"], card["face_value"], card["allowed_stores"]) == (
        "Moutai 500ml",
        150000,
        ["S1", "S2"],
    )
    assert card["batch_ref"] == "cards.csv"
    assert ledger.get_card(HQ, codes[1]["card_number"])["holder_ref"] == "cust-9"
    # Imported cards are stock: unusable until sold.
    assert card["state"] == "INACTIVE"
    ledger.activate(HQ, codes[0]["card_number"])
    assert (
        ledger.redeem(STORE1, codes[0]["card_number"], codes[0]["redemption_code"])["state"]
        == "REDEEMED"
    )


def test_rerunning_the_same_file_issues_nothing_twice(ledger, stores, tmp_path):
    source = write(tmp_path / "cards.csv", *GOOD)
    first = import_cards(ledger, source, codes_path=tmp_path / "first.csv")
    size = log_size(ledger)
    again = import_cards(ledger, source, codes_path=tmp_path / "again.csv")
    assert (first.issued, again.issued, again.skipped) == (3, 0, 3)
    assert again.codes_path is None and not (tmp_path / "again.csv").exists()
    assert log_size(ledger) == size


def test_an_interrupted_import_finishes_on_the_next_run(ledger, stores, tmp_path):
    source = write(tmp_path / "cards.csv", *GOOD[:1])
    import_cards(ledger, source, codes_path=tmp_path / "a.csv")
    write(source, *GOOD)
    rest = import_cards(ledger, source, codes_path=tmp_path / "b.csv")
    assert (rest.issued, rest.skipped) == (2, 1)
    assert [c["row_key"] for c in read_codes(tmp_path / "b.csv")] == ["r2", "r3"]


def test_a_file_with_an_unknown_column_is_refused(ledger, tmp_path):
    source = tmp_path / "cards.csv"
    source.write_text("row_key,product,colour\nr1,Tea,red\n")
    with pytest.raises(ImportFileError, match="colour"):
        import_cards(ledger, source)


def test_the_codes_file_never_holds_a_formula(ledger, stores, tmp_path):
    source = write(
        tmp_path / "cards.csv",
        '"=HYPERLINK(""http://evil.example"",""x"")",Tea,,,,,,\n',
        "@SUM(A1),Tea,,,,,,\n",
        "-2+3,Tea,,,,,,\n",
    )
    summary = import_cards(ledger, source)
    assert summary.issued == 3 and not summary.failed
    keys = [c["row_key"] for c in read_codes(summary.codes_path)]
    assert keys == ['\'=HYPERLINK("http://evil.example","x")', "'@SUM(A1)", "'-2+3"]


def test_the_codes_file_is_never_overwritten(ledger, stores, tmp_path):
    source = write(tmp_path / "cards.csv", *GOOD)
    taken = tmp_path / "codes.csv"
    taken.write_text("someone else's\n")
    with pytest.raises(FileExistsError):
        import_cards(ledger, source, codes_path=taken)
    assert taken.read_text() == "someone else's\n"


def test_the_cli_imports_then_expires(db_url, tmp_path):
    env = {"DATABASE_URL": db_url, "CARDTRAIL_DATA_DIR": str(tmp_path / "data")}
    source = write(
        tmp_path / "cards.csv",
        "p1,Tea,,,,,2020-01-01T00:00:00Z,\n",
        "p2,Tea,,,,,,\n",
    )
    codes = tmp_path / "codes.csv"
    runner = CliRunner()
    result = runner.invoke(main, ["import-cards", str(source), "--codes-out", str(codes)], env=env)
    assert result.exit_code == 0, result.output
    assert "Issued 2, skipped 0" in result.output and str(codes) in result.output
    again = runner.invoke(
        main, ["import-cards", str(source), "--codes-out", str(tmp_path / "c2.csv")], env=env
    )
    assert "Issued 0, skipped 2" in again.output
    expired = runner.invoke(main, ["expire"], env=env)
    assert expired.exit_code == 0, expired.output
    assert "Expired 1 card." in expired.output
    assert "Expired 0 cards." in runner.invoke(main, ["expire"], env=env).output


def test_the_cli_exits_1_when_rows_failed(db_url, tmp_path):
    env = {"DATABASE_URL": db_url, "CARDTRAIL_DATA_DIR": str(tmp_path / "data")}
    source = write(tmp_path / "cards.csv", "p1,,,,,,,\n")
    result = CliRunner().invoke(main, ["import-cards", str(source)], env=env)
    assert result.exit_code == 1
    assert "failed 1" in result.output and "line 2: product" in result.output
