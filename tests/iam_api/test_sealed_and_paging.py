"""Unit checks of the pieces under the API: sealed secrets open only for their key id under the
same root secret; List* markers are opaque, and one this service did not issue is a ValidationError."""

from __future__ import annotations

import pytest

from orchestrator.domain import errors
from orchestrator.services.iam import entities, sealed


def test_a_sealed_secret_opens_only_for_its_key_and_root() -> None:
    blob = sealed.seal("root-secret", "AKIAAAAAAAAAAAAAAAAA", "s3cr3t")
    assert "s3cr3t" not in blob
    assert sealed.unseal("root-secret", "AKIAAAAAAAAAAAAAAAAA", blob) == "s3cr3t"
    assert sealed.unseal("root-secret", "AKIABBBBBBBBBBBBBBBB", blob) is None  # moved to another key id
    assert sealed.unseal("other-root", "AKIAAAAAAAAAAAAAAAAA", blob) is None
    assert sealed.unseal("root-secret", "AKIAAAAAAAAAAAAAAAAA", "not base64!") is None
    assert sealed.seal("root-secret", "AKIAAAAAAAAAAAAAAAAA", "s3cr3t") != blob  # a fresh nonce each time


def test_token_hashes_compare() -> None:
    stored = sealed.token_hash("token")
    assert sealed.token_matches("token", stored) and not sealed.token_matches("tokem", stored)


def test_pages_and_markers() -> None:
    items = [f"n{i:02d}" for i in range(7)]
    first = entities.page(items, None, 3, lambda s: s, "Names")
    assert first["Names"] == ["n00", "n01", "n02"] and first["IsTruncated"]
    second = entities.page(items, first["Marker"], 3, lambda s: s, "Names")
    third = entities.page(items, second["Marker"], 3, lambda s: s, "Names")
    assert second["Names"] == ["n03", "n04", "n05"] and third == {"Names": ["n06"], "IsTruncated": False}
    with pytest.raises(errors.ValidationError):
        entities.page(items, "%%%not-a-marker", 3, lambda s: s, "Names")
    with pytest.raises(errors.ValidationError):
        entities.page(items, None, 0, lambda s: s, "Names")
