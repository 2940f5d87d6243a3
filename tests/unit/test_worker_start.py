"""What a worker process imports to run a task (issue 13: each array child is a fresh
process, and its imports were most of a 1-ms task's cost)."""

from __future__ import annotations

import json
import subprocess
import sys

# Run in a fresh interpreter: this one has imported everything already.
RUN_ECHO = """
import json, logging, sys
from overlord_worker.registry import TaskContext, load_task
output = load_task("echo")({"message": "hi"}, TaskContext("j", "b", 1, log=logging))
print(json.dumps({"output": output, "modules": sorted(sys.modules)}))
"""


def test_running_a_task_imports_no_file_model_nor_an_aws_client():
    run = subprocess.run(
        [sys.executable, "-c", RUN_ECHO.replace("log=logging", "log=__import__('logging')")],
        capture_output=True,
        text=True,
        check=True,
    )
    answer = json.loads(run.stdout.splitlines()[-1])
    assert answer["output"] == {"message": "hi"}
    loaded = set(answer["modules"])
    # pydantic builds the catalogue file's model (the whole catalogue's check, done where
    # it is loaded whole); importlib.metadata, boto3 and botocore are not needed for echo.
    for heavy in ("pydantic", "importlib.metadata", "boto3", "botocore"):
        assert heavy not in loaded
    assert "jsonschema" in loaded  # the parameters are still checked
