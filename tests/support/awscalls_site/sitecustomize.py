"""Loaded by Python at start-up when this directory is on PYTHONPATH (the test session
puts it there): a subprocess such as the worker records its AWS calls too."""

import importlib.util
import os
from pathlib import Path

if os.environ.get("TEST_AWS_CALL_LOG"):
    _spec = importlib.util.spec_from_file_location(
        "overlord_test_awscalls", Path(__file__).resolve().parent.parent / "awscalls.py"
    )
    if _spec and _spec.loader:
        _module = importlib.util.module_from_spec(_spec)
        _spec.loader.exec_module(_module)
        _module.install_from_env()
