"""X-Ray tracing of the recorder, as in Lambda: the subsegments they
send to the X-Ray daemon carry job_id and batch_job_id annotations.

The handler runs in a subprocess with Lambda's environment (LAMBDA_TASK_ROOT, a trace
header in _X_AMZN_TRACE_ID), because the Tracer, once on, patches botocore and pymongo
for the whole process; a UDP socket stands in for the daemon (AWS_XRAY_DAEMON_ADDRESS).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from typing import Any

from tests.support.events import state_event

TRACE_ID = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
RUN = """
import json, sys
from overlord_local.lambdas import LocalLambdaContext
from overlord_recorder.handler import lambda_handler
print(json.dumps(lambda_handler(json.loads(sys.argv[1]), LocalLambdaContext())))
"""


def segments(sock: socket.socket) -> list[dict[str, Any]]:
    found = []
    sock.settimeout(0.5)
    while True:
        try:
            packet = sock.recv(65536).decode()
        except TimeoutError:
            return found
        _, _, body = packet.partition("\n")  # a header line, then the (sub)segment
        found.append(json.loads(body))


def annotations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    found = [doc.get("annotations", {})]
    for sub in doc.get("subsegments", []):
        found += annotations(sub)
    return found


def test_the_recorder_traces_with_the_jobs_ids(app_env) -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    job_id, batch_job_id = "job-" + uuid.uuid4().hex, str(uuid.uuid4())
    env = {
        **os.environ,
        "LAMBDA_TASK_ROOT": os.getcwd(),
        "AWS_LAMBDA_FUNCTION_NAME": "overlord-recorder",
        "_X_AMZN_TRACE_ID": TRACE_ID,
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "POWERTOOLS_TRACE_DISABLED": "false",
    }
    event = state_event(job_id, batch_job_id, "RUNNING")
    proc = subprocess.run(
        [sys.executable, "-c", RUN, json.dumps(event)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    found = [a for doc in segments(daemon) for a in annotations(doc)]
    assert {"job_id": job_id, "batch_job_id": batch_job_id}.items() <= {
        k: v for a in found for k, v in a.items()
    }.items(), found
