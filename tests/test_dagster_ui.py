"""The Dagster UI as `make dev` starts it (`dagster dev -m pipelines.definitions`) answers
a GraphQL query listing the code location's assets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipelines.settings import REPO_ROOT

QUERY = "{ assetNodes { assetKey { path } groupName } }"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ask(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_the_ui_lists_the_assets_over_graphql(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "CSHEALTH_DAGSTER_STORAGE": str(tmp_path / "dagster"),
        "CSHEALTH_EXTRACTS_DIR": str(tmp_path / "extracts"),
        "CSHEALTH_WAREHOUSE": str(tmp_path / "w.duckdb"),
    }
    port = free_port()
    dagster = Path(sys.executable).parent / "dagster"
    server = subprocess.Popen(
        [str(dagster), "dev", "-m", "pipelines.definitions", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline, answer = time.monotonic() + 180, None
        while answer is None:
            assert server.poll() is None, "dagster dev exited"
            assert time.monotonic() < deadline, "the UI did not answer within 180 s"
            try:
                answer = ask(port, QUERY)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            # dagster dev can take longer to stop its daemon and code server on a busy
            # machine; the test is about the answer above, not about shutdown time.
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    nodes = answer["data"]["assetNodes"]
    keys = {"/".join(node["assetKey"]["path"]) for node in nodes}
    assert {
        "raw/crm_accounts",
        "core/crm_accounts",
        "mart/account_health",
        "mart/retention",
        "mart/risk_register",
        "publish/warehouse",
    } <= keys
    assert {node["groupName"] for node in nodes} == {
        "ingest",
        "core",
        "health",
        "retention",
        "operations",
        "publish",
        "reports",
    }
