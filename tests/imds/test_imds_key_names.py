"""Key names the API refuses (they would inject lines into the metadata service's public-keys
listing and break XML): EC2 takes up to 255 printable ASCII characters."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7Ix0mXfQbP5Zs3dXw3xN6l2ZQ0mZ0z2wqg5l3VfJ0c me"


@pytest.mark.parametrize(
    "bad",
    ["a\nb", "line\r\n0=x", "tab\there", "nul\x00", "del\x7f", "ünicode", "x" * 256, ""],
)
def test_create_and_import_refuse_non_printable_ascii(ec2, bad: str) -> None:
    for call in (
        lambda: ec2.create_key_pair(KeyName=bad, KeyType="ed25519"),
        lambda: ec2.import_key_pair(KeyName=bad, PublicKeyMaterial=PUBLIC.encode()),
    ):
        with pytest.raises(ClientError) as info:
            call()
        err = info.value.response["Error"]
        assert err["Code"] == "InvalidParameterValue", err
        assert err["Message"].startswith("Value (") and "for parameter keyname is invalid." in err["Message"].lower()
        assert "\n" not in err["Message"] and "\r" not in err["Message"] and "\x00" not in err["Message"]
    names = {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]}
    assert bad not in names


@pytest.mark.parametrize("good", ["~!@#$%^&*()_+`-={}|[]\\:\";'<>?,./ x", "y" * 255])
def test_every_printable_ascii_name_up_to_255_is_accepted(ec2, good: str) -> None:
    name = good[:-8] + uuid.uuid4().hex[:8] if len(good) == 255 else good + uuid.uuid4().hex[:8]
    made = ec2.create_key_pair(KeyName=name, KeyType="ed25519")
    assert made["KeyName"] == name
    assert ec2.describe_key_pairs(KeyNames=[name])["KeyPairs"][0]["KeyName"] == name
    ec2.delete_key_pair(KeyName=name)
