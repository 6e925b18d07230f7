"""The one gunicorn launcher: its command line and environment, and a real start and stop."""

from __future__ import annotations

import json
import urllib.request

from anchoring.node import port_in_use
from bench.common import ROOT
from bench.http import BENCH, App, command, environment, prepare, serve


def test_the_command_binds_127_0_0_1_with_gthread_workers_and_the_app_last():
    app = App("pkg.mod:app", ("--timeout", "7"))
    argv = command(app, 8123, workers=3, threads=5)
    assert argv[1:3] == ["-m", "gunicorn"]
    assert argv[argv.index("--bind") + 1] == "127.0.0.1:8123"
    assert argv[argv.index("--worker-class") + 1] == "gthread"
    assert argv[argv.index("--workers") + 1] == "3"
    assert argv[argv.index("--threads") + 1] == "5"
    assert argv[-3:] == ["--timeout", "7", "pkg.mod:app"]


def test_the_environment_drops_inherited_cardtrail_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("CARDTRAIL_SECRET_KEY", "from the shell")
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    monkeypatch.setenv("KEEP_ME", "1")
    env = environment(App("m:app", env={"CARDTRAIL_PROXY_HOPS": "1"}), tmp_path, None)
    assert "CARDTRAIL_SECRET_KEY" not in env and "DATABASE_URL" not in env
    assert env["KEEP_ME"] == "1"
    assert env["CARDTRAIL_DATA_DIR"] == str(tmp_path)
    assert env["CARDTRAIL_PROXY_HOPS"] == "1"
    assert env["PYTHONPATH"] == str(ROOT)
    assert environment(BENCH, tmp_path, "sqlite:///x.db")["DATABASE_URL"] == "sqlite:///x.db"


def test_the_bench_app_serves_a_prepared_deployment_and_stops_with_the_block(tmp_path):
    deployment = prepare(tmp_path / "data", f"sqlite:///{tmp_path / 'data' / 'cardtrail.db'}")
    with serve(
        BENCH,
        deployment.data_dir,
        deployment.database_url,
        workers=1,
        threads=2,
        log_path=tmp_path / "gunicorn.log",
    ) as server:
        port = int(server.url.rsplit(":", 1)[1])
        request = urllib.request.Request(
            server.url + "/api/v1/stores",
            headers={"Authorization": f"Bearer {deployment.hq_token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            stores = json.load(answer)
    assert {store["store_id"] for store in stores["stores"]} == {"S1", "S2"}
    assert server.process.poll() is not None
    assert not port_in_use(port)
