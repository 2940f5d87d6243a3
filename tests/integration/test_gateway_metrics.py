"""GET /metrics on the local gateway and `overlord stats` against it, over real HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from overlord_local.apigateway.gateway import GatewayServer, in_process
from overlord_local.apigateway.sigv4 import Verifier
from overlord_local.metrics import EmfCollector

DOC = (
    '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"Overlord","Dimensions":'
    '[["environment","service"]],"Metrics":[{"Name":"SubmissionsCreated","Unit":"Count"}]}]},'
    '"environment":"local","service":"overlord","SubmissionsCreated":[1.0,1.0,1.0]}'
)


def never_invoked(event, context):
    raise AssertionError("GET /metrics reached the submitter")


@pytest.fixture
def url_with(request: pytest.FixtureRequest) -> Iterator[str]:
    collector = EmfCollector()
    collector.feed_line(DOC)
    metrics = collector.exposition if request.param else None
    # Signatures required, as in `make dev`: /metrics is open like /health.
    verifier = Verifier("AKIDEXAMPLE", "secret", "us-east-1")
    server = GatewayServer("127.0.0.1", 0, in_process(never_invoked), verifier, metrics).start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def stats(url: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OVERLORD_"))}
    env |= {"OVERLORD_API_URL": url, "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE"}
    env |= {"AWS_SECRET_ACCESS_KEY": "secret", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "overlord_local.cli", "stats", "--once"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.parametrize("url_with", [True], indirect=True)
def test_metrics_are_prometheus_text_without_a_signature(url_with: str) -> None:
    with urllib.request.urlopen(url_with + "/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    assert 'overlord_submissions_created_total{environment="local",service="overlord"} 3.0' in text


@pytest.mark.parametrize("url_with", [True], indirect=True)
def test_stats_once_prints_the_table(url_with: str) -> None:
    proc = stats(url_with)
    assert proc.returncode == 0, proc.stderr
    assert "overlord_submissions_created" in proc.stdout and "3" in proc.stdout


@pytest.mark.parametrize("url_with", [False], indirect=True)
def test_without_a_collector_there_is_no_route_and_stats_says_why(url_with: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url_with + "/metrics", timeout=10)
    assert err.value.code == 404
    proc = stats(url_with)
    assert proc.returncode == 2
    assert "make dev" in proc.stderr and "CloudWatch" in proc.stderr
