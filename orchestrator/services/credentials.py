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
        if path.stat().st_mode & 0o077 and path.stat().st_uid == os.geteuid():
            os.chmod(path, 0o600)  # an older file made readable by others
        data = json.loads(path.read_text())
        return Credentials(data["AccessKeyId"], data["SecretAccessKey"], data["AccountId"])
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    creds = generate()
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)  # a crash's leftover may have another mode: O_EXCL makes it 0600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(creds), f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return creds
