"""A bucket on moto's S3 server for the object-storage tests (test_object_storage.py): made
new per test, with CAMPAIGN_DATA_URL and the AWS variables pointing into it."""

import uuid

import boto3
import pytest

PREFIX = "campaigns-prod"
TOKEN = "object-storage-test-token"


class Bucket:
    """The keys under ``PREFIX`` of one bucket, as a writer outside the project sees them."""

    def __init__(self, client, name: str):
        self.client, self.name = client, name

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=f"{PREFIX}/{key}", Body=body)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.name, Key=f"{PREFIX}/{key}")["Body"].read()

    def keys(self, under: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.name, Prefix=f"{PREFIX}/{under}/")
        return sorted(o["Key"].removeprefix(f"{PREFIX}/{under}/")
                      for page in pages for o in page.get("Contents", []))


def new_bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A new bucket, and CAMPAIGN_DATA_URL pointing into it."""
    name = f"campaigns-{uuid.uuid4().hex[:12]}"
    for variable, value in {
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
        "CAMPAIGN_DATA_URL": f"s3://{name}/{PREFIX}", "INGRESS_TOKEN": TOKEN,
    }.items():
        monkeypatch.setenv(variable, value)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=name)
    return Bucket(client, name)
