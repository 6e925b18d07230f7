"""Access logs mask card numbers: the dev server of ``cardtrail up`` and gunicorn's logger."""

from __future__ import annotations

import logging
import threading
import urllib.request
from datetime import timedelta
from types import SimpleNamespace

import pytest
from gunicorn.config import Config

from cardtrail.access_log import GunicornLogger
from cardtrail.run import web_server
from ledger_service.domain.numbers import format_card_number, generate_card_number

NUMBER = generate_card_number()
MASKED = f"{NUMBER[:4]}…{NUMBER[-2:]}"


def _clear(text: str) -> bool:
    """Whether ``text`` shows the number in any of the forms a URL carries it."""
    forms = (NUMBER, NUMBER.lower(), format_card_number(NUMBER), NUMBER[:16])
    return any(form in text for form in forms)


@pytest.mark.parametrize(
    "path",
    [
        f"/c/{NUMBER}",
        f"/api/v1/public/cards/{NUMBER.lower()}/bundle?download=1",
        f"/lookup?number={format_card_number(NUMBER)}",
    ],
)
def test_the_dev_server_logs_requests_with_masked_numbers(app, caplog, path):
    server = web_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}{path}", timeout=10)
            except urllib.error.HTTPError:
                pass  # an unknown card is a 404: its request is logged all the same
    finally:
        server.shutdown()
        thread.join(10)
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any(MASKED in line for line in lines), lines
    assert not any(_clear(line) for line in lines), lines


def _gunicorn_line(access_log_format: str | None = None) -> str:
    cfg = Config()
    cfg.set("accesslog", "-")
    if access_log_format:
        cfg.set("access_log_format", access_log_format)
    logger = GunicornLogger(cfg)
    raw = f"/c/{NUMBER}?from=/lookup%3Fnumber%3D{format_card_number(NUMBER)}"
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": raw,
        "PATH_INFO": f"/c/{NUMBER}",
        "QUERY_STRING": raw.partition("?")[2],
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": f"https://cards.example/c/{NUMBER.lower()}",
        "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
    }
    response = SimpleNamespace(status="200 OK", sent=1234, headers=[("Content-Type", "text/html")])
    request = SimpleNamespace(headers=[("REFERER", environ["HTTP_REFERER"])])
    lines: list[str] = []
    collect = logging.Handler()
    collect.emit = lambda record: lines.append(record.getMessage())  # type: ignore[method-assign]
    access = logging.getLogger("gunicorn.access")
    access.addHandler(collect)
    try:
        logger.access(response, request, environ, timedelta(milliseconds=3))
    finally:
        access.removeHandler(collect)
    [line] = lines
    return line


def test_gunicorns_default_access_line_is_masked():
    line = _gunicorn_line()
    assert f'"GET /c/{MASKED}?from=/lookup%3Fnumber%3D{MASKED} HTTP/1.1" 200 1234' in line
    assert f'"https://cards.example/c/{MASKED}"' in line
    assert "AppleWebKit/537.36 (KHTML, like Gecko)" in line
    assert not _clear(line)


def test_every_url_atom_of_gunicorn_is_masked():
    line = _gunicorn_line("%(U)s|%(q)s|%({raw_uri}e)s|%({referer}i)s|%({path_info}e)s")
    assert line.count(MASKED) == 6
    assert not _clear(line)
