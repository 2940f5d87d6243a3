"""The dev stack's moto server: its dispatcher looks each host's backend up once, and
every service the stack uses still reaches its own backend."""

from __future__ import annotations

import uuid

import boto3

from overlord_local.devstack.motoserver import MotoServer
from overlord_local.devstack.processes import free_port


def test_each_service_reaches_its_backend_and_each_host_is_looked_up_once():
    port = free_port()
    server = MotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        args = {
            "endpoint_url": f"http://127.0.0.1:{port}",
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        name = f"dispatch-{uuid.uuid4().hex[:12]}"
        s3, logs, iam, sqs = (boto3.client(s, **args) for s in ("s3", "logs", "iam", "sqs"))
        s3.create_bucket(Bucket=name)
        for body in (b"x", b"y"):
            s3.put_object(Bucket=name, Key="k", Body=body)
        assert s3.get_object(Bucket=name, Key="k")["Body"].read() == b"y"
        logs.create_log_group(logGroupName=name)
        groups = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
        assert [g["logGroupName"] for g in groups] == [name]
        iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")
        assert iam.get_role(RoleName=name)["Role"]["RoleName"] == name
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
        dispatcher = server._server.app  # type: ignore[union-attr]
        remembered = dispatcher._backends
        assert {h: b for h, b in remembered.items() if h} == {
            "s3.us-east-1.amazonaws.com": "s3",
            "logs.us-east-1.amazonaws.com": "logs",
            "iam.us-east-1.amazonaws.com": "iam",
            "sqs.us-east-1.amazonaws.com": "sqs",
        }
    finally:
        server.stop()
