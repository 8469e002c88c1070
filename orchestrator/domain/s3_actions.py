"""Which IAM action and resource an S3 request needs (the "Actions, resources, and condition keys
for Amazon S3" table of the Service Authorization Reference, for the operations S3 clients send).

:func:`required` maps a request (method, bucket, key, query parameter names, a few headers) to the
``(action, resource ARN)`` pairs the caller must be allowed, in the order they are checked. Most
requests need one; ``CopyObject``/``UploadPartCopy`` need ``s3:GetObject`` on the source too.
Resources: ``*`` for ListAllMyBuckets, ``arn:aws:s3:::BUCKET`` for bucket operations,
``arn:aws:s3:::BUCKET/KEY`` for object operations. ``DeleteObjects`` (``POST ?delete``) is authorized
as ``s3:DeleteObject`` on ``arn:aws:s3:::BUCKET/*``: the keys are in the body, which is streamed
unread (a policy that denies some keys but allows others refuses the whole batch here rather than
per key).
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import unquote

# bucket sub-resources: query parameter -> action for GET, PUT, DELETE
_BUCKET_SUB: dict[str, tuple[str | None, str | None, str | None]] = {
    "acl": ("GetBucketAcl", "PutBucketAcl", None),
    "policy": ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    "policyStatus": ("GetBucketPolicyStatus", None, None),
    "tagging": ("GetBucketTagging", "PutBucketTagging", "PutBucketTagging"),
    "versioning": ("GetBucketVersioning", "PutBucketVersioning", None),
    "cors": ("GetBucketCORS", "PutBucketCORS", "PutBucketCORS"),
    "lifecycle": ("GetLifecycleConfiguration", "PutLifecycleConfiguration", "PutLifecycleConfiguration"),
    "encryption": ("GetEncryptionConfiguration", "PutEncryptionConfiguration", "PutEncryptionConfiguration"),
    "object-lock": ("GetBucketObjectLockConfiguration", "PutBucketObjectLockConfiguration", None),
    "notification": ("GetBucketNotification", "PutBucketNotification", None),
    "website": ("GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
    "logging": ("GetBucketLogging", "PutBucketLogging", None),
    "ownershipControls": ("GetBucketOwnershipControls", "PutBucketOwnershipControls",
                          "PutBucketOwnershipControls"),
    "publicAccessBlock": ("GetBucketPublicAccessBlock", "PutBucketPublicAccessBlock",
                          "PutBucketPublicAccessBlock"),
    "requestPayment": ("GetBucketRequestPayment", "PutBucketRequestPayment", None),
    "accelerate": ("GetAccelerateConfiguration", "PutAccelerateConfiguration", None),
    "replication": ("GetReplicationConfiguration", "PutReplicationConfiguration",
                    "PutReplicationConfiguration"),
    "location": ("GetBucketLocation", None, None),
    "uploads": ("ListBucketMultipartUploads", None, None),
    "versions": ("ListBucketVersions", None, None),
}

# object sub-resources: query parameter -> action for GET, PUT, DELETE
_OBJECT_SUB: dict[str, tuple[str | None, str | None, str | None]] = {
    "acl": ("GetObjectAcl", "PutObjectAcl", None),
    "tagging": ("GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging"),
    "retention": ("GetObjectRetention", "PutObjectRetention", None),
    "legal-hold": ("GetObjectLegalHold", "PutObjectLegalHold", None),
    "attributes": ("GetObjectAttributes", None, None),
    "torrent": ("GetObjectTorrent", None, None),
}

_COLUMN = {"GET": 0, "HEAD": 0, "PUT": 1, "DELETE": 2}


class UnknownS3Request(ValueError):
    """A method/sub-resource combination S3 has no operation for."""


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def required(method: str, bucket: str | None, key: str | None, query: Collection[str],
             copy_source: str | None = None) -> list[tuple[str, str]]:
    """The ``(s3:Action, resource)`` pairs a request needs; ``query`` holds its parameter names."""
    method = method.upper()
    if not bucket:
        if method in ("GET", "HEAD"):
            return [("s3:ListAllMyBuckets", "*")]
        raise UnknownS3Request(f"{method} on the service")
    if not key:
        if method == "POST" and "delete" in query:
            return delete_objects(bucket)
        return [(f"s3:{_bucket_action(method, query)}", bucket_arn(bucket))]
    pairs = [(f"s3:{_object_action(method, query)}", object_arn(bucket, key))]
    if copy_source and method == "PUT":
        source = _copy_source(copy_source)
        if source is not None:
            action = "GetObjectVersion" if "versionId=" in copy_source else "GetObject"
            pairs.append((f"s3:{action}", object_arn(*source)))
    return pairs


def _bucket_action(method: str, query: Collection[str]) -> str:
    column = _COLUMN.get(method)
    if column is None:
        raise UnknownS3Request(f"{method} on a bucket")
    for name, actions in _BUCKET_SUB.items():
        if name in query:
            action = actions[column]
            if action is None:
                raise UnknownS3Request(f"{method} ?{name}")
            return action
    return ("ListBucket", "CreateBucket", "DeleteBucket")[column]


def _object_action(method: str, query: Collection[str]) -> str:
    versioned = "versionId" in query
    if method == "POST":
        if "uploads" in query or "uploadId" in query:
            return "PutObject"  # Create/CompleteMultipartUpload
        if "restore" in query:
            return "RestoreObject"
        if "select" in query:
            return "GetObject"
        raise UnknownS3Request("POST on an object")
    column = _COLUMN.get(method)
    if column is None:
        raise UnknownS3Request(f"{method} on an object")
    for name, actions in _OBJECT_SUB.items():
        if name in query:
            action = actions[column]
            if action is None:
                raise UnknownS3Request(f"{method} ?{name}")
            return action + ("Version" if versioned and action in ("GetObjectAcl", "GetObjectTagging",
                                                                   "PutObjectAcl", "PutObjectTagging",
                                                                   "DeleteObjectTagging") else "")
    if "uploadId" in query:
        return ("ListMultipartUploadParts", "PutObject", "AbortMultipartUpload")[column]
    if versioned and method in ("GET", "HEAD"):
        return "GetObjectVersion"
    if versioned and method == "DELETE":
        return "DeleteObjectVersion"
    return ("GetObject", "PutObject", "DeleteObject")[column]


def delete_objects(bucket: str) -> list[tuple[str, str]]:
    """``POST /bucket?delete`` (DeleteObjects): see the module docstring."""
    return [("s3:DeleteObject", f"{bucket_arn(bucket)}/*")]


def _copy_source(value: str) -> tuple[str, str] | None:
    """``x-amz-copy-source`` (``/bucket/key`` or ``bucket/key``, URL-encoded, maybe ``?versionId=``)."""
    path = unquote(value.split("?", 1)[0]).lstrip("/")
    bucket, _, key = path.partition("/")
    return (bucket, key) if bucket and key else None
