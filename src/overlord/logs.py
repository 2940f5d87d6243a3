"""Structured JSON logging (Powertools Logger), shared by the Lambdas and the worker."""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers


def service_logger(service: str) -> Logger:
    """A JSON logger for `service`; library loggers under `overlord` log the same way."""
    logger = Logger(service=service, level=os.environ.get("LOG_LEVEL", "INFO"))
    copy_config_to_registered_loggers(source_logger=logger, include={"overlord"})
    return logger


def route_to(logger: Logger, *names: str) -> None:
    """Send these library loggers' lines through `logger` only.

    In a Lambda one service owns the process. `overlord dev` hosts several, and the
    keys a handler appends (job_id, request id) would otherwise show up on the local
    Batch's and the router's lines too.
    """
    for name in names:
        library_logger = logging.getLogger(name)
        library_logger.handlers = [logger.registered_handler]
        library_logger.propagate = False
        library_logger.setLevel(logger.log_level)
