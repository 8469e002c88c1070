"""The account's root credentials: created on first start, kept in the data dir (mode 0600)."""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import asdict, dataclass
from pathlib import Path

_UPPER_DIGITS = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class Credentials:
    AccessKeyId: str
    SecretAccessKey: str
    AccountId: str

    @property
    def access_key_id(self) -> str:
        return self.AccessKeyId

    @property
    def secret_access_key(self) -> str:
        return self.SecretAccessKey

    @property
    def account_id(self) -> str:
        return self.AccountId


def generate() -> Credentials:
    return Credentials(
        AccessKeyId="AKIA" + "".join(secrets.choice(_UPPER_DIGITS) for _ in range(16)),
        SecretAccessKey=secrets.token_urlsafe(30)[:40],
        AccountId=str(secrets.randbelow(9 * 10**11) + 10**11),
    )


def load_or_create(path: Path) -> Credentials:
    if path.exists():
        data = json.loads(path.read_text())
        return Credentials(data["AccessKeyId"], data["SecretAccessKey"], data["AccountId"])
    path.parent.mkdir(parents=True, exist_ok=True)
    creds = generate()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(creds), f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return creds
