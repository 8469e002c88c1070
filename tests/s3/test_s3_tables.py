"""Pure parts of the S3 front: the IAM action table and bucket/key addressing."""

from __future__ import annotations

import pytest

from orchestrator.api.s3 import addressing
from orchestrator.domain import s3_actions
from orchestrator.domain.s3_actions import required


@pytest.mark.parametrize(("method", "bucket", "key", "query", "expected"), [
    ("GET", None, None, [], [("s3:ListAllMyBuckets", "*")]),
    ("PUT", "b", None, [], [("s3:CreateBucket", "arn:aws:s3:::b")]),
    ("DELETE", "b", None, [], [("s3:DeleteBucket", "arn:aws:s3:::b")]),
    ("GET", "b", None, ["list-type", "prefix"], [("s3:ListBucket", "arn:aws:s3:::b")]),
    ("HEAD", "b", None, [], [("s3:ListBucket", "arn:aws:s3:::b")]),
    ("GET", "b", None, ["location"], [("s3:GetBucketLocation", "arn:aws:s3:::b")]),
    ("GET", "b", None, ["uploads"], [("s3:ListBucketMultipartUploads", "arn:aws:s3:::b")]),
    ("DELETE", "b", None, ["policy"], [("s3:DeleteBucketPolicy", "arn:aws:s3:::b")]),
    ("POST", "b", None, ["delete"], [("s3:DeleteObject", "arn:aws:s3:::b/*")]),
    ("GET", "b", "k/x", [], [("s3:GetObject", "arn:aws:s3:::b/k/x")]),
    ("HEAD", "b", "k", [], [("s3:GetObject", "arn:aws:s3:::b/k")]),
    ("GET", "b", "k", ["versionId"], [("s3:GetObjectVersion", "arn:aws:s3:::b/k")]),
    ("PUT", "b", "k", [], [("s3:PutObject", "arn:aws:s3:::b/k")]),
    ("PUT", "b", "k", ["partNumber", "uploadId"], [("s3:PutObject", "arn:aws:s3:::b/k")]),
    ("POST", "b", "k", ["uploads"], [("s3:PutObject", "arn:aws:s3:::b/k")]),
    ("POST", "b", "k", ["uploadId"], [("s3:PutObject", "arn:aws:s3:::b/k")]),
    ("GET", "b", "k", ["uploadId"], [("s3:ListMultipartUploadParts", "arn:aws:s3:::b/k")]),
    ("DELETE", "b", "k", ["uploadId"], [("s3:AbortMultipartUpload", "arn:aws:s3:::b/k")]),
    ("DELETE", "b", "k", [], [("s3:DeleteObject", "arn:aws:s3:::b/k")]),
    ("DELETE", "b", "k", ["versionId"], [("s3:DeleteObjectVersion", "arn:aws:s3:::b/k")]),
    ("PUT", "b", "k", ["tagging"], [("s3:PutObjectTagging", "arn:aws:s3:::b/k")]),
    ("GET", "b", "k", ["acl"], [("s3:GetObjectAcl", "arn:aws:s3:::b/k")]),
])
def test_actions(method: str, bucket: str | None, key: str | None, query: list[str],
                 expected: list[tuple[str, str]]) -> None:
    assert required(method, bucket, key, query) == expected


def test_copy_needs_read_on_the_source() -> None:
    assert required("PUT", "dst", "d", [], "/src/dir/a%20b.txt?versionId=3") == [
        ("s3:PutObject", "arn:aws:s3:::dst/d"), ("s3:GetObjectVersion", "arn:aws:s3:::src/dir/a b.txt")]
    assert required("PUT", "dst", "d", [], "src/k")[1] == ("s3:GetObject", "arn:aws:s3:::src/k")


@pytest.mark.parametrize(("method", "bucket", "key", "query"), [
    ("PUT", None, None, []), ("POST", "b", None, []), ("PATCH", "b", "k", []), ("DELETE", "b", "k", ["acl"]),
])
def test_no_such_operation(method: str, bucket: str | None, key: str | None, query: list[str]) -> None:
    with pytest.raises(s3_actions.UnknownS3Request):
        required(method, bucket, key, query)


@pytest.mark.parametrize(("host", "path", "bucket", "key", "engine_path"), [
    ("127.0.0.1:8773", "/", None, None, "/"),
    ("127.0.0.1:8773", "/bkt", "bkt", None, "/bkt"),
    ("127.0.0.1:8773", "/bkt/a%20b/c", "bkt", "a b/c", "/bkt/a%20b/c"),
    ("bkt.s3.amazonaws.com", "/a%2Bb", "bkt", "a+b", "/bkt/a%2Bb"),
    ("my.dotted.bkt.s3.eu-west-1.amazonaws.com:443", "/k", "my.dotted.bkt", "k", "/my.dotted.bkt/k"),
    ("bkt.s3-us-west-2.amazonaws.com", "/", "bkt", None, "/bkt"),
    ("s3.amazonaws.com", "/bkt/k", "bkt", "k", "/bkt/k"),
    ("bkt.localhost:8773", "/k", "bkt", "k", "/bkt/k"),
    ("bkt.ec2d.example:8773", "/k", "bkt", "k", "/bkt/k"),
    ("ec2.us-east-1.amazonaws.com", "/bkt/k", "bkt", "k", "/bkt/k"),
])
def test_addressing(host: str, path: str, bucket: str | None, key: str | None, engine_path: str) -> None:
    target = addressing.target(host, path, ["ec2d.example", "127.0.0.1", "localhost"])
    assert (target.bucket, target.key, target.engine_path) == (bucket, key, engine_path)
