"""Structured JSON logging (Powertools Logger), shared by the Lambdas and the worker."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers


def service_logger(service: str) -> Logger:
    """A JSON logger for `service`; library loggers under `overlord` log the same way."""
    logger = Logger(service=service, level=os.environ.get("LOG_LEVEL", "INFO"))
    copy_config_to_registered_loggers(source_logger=logger, include={"overlord"})
    return logger
