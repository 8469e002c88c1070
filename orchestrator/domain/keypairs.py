"""EC2 key pairs: generation (CreateKeyPair), import (ImportKeyPair) and fingerprints, as EC2 does them.

Sources (EC2 API Reference: CreateKeyPair, ImportKeyPair, KeyPairInfo; EC2 User Guide: "Create a key
pair and import the public key", "Verify the fingerprint of your key pair"):

* CreateKeyPair makes "an ED25519 or 2048-bit RSA key pair"; the private key is "an unencrypted PEM
  encoded PKCS#1 private key or an unencrypted PPK formatted private key for use with PuTTY".
  RSA ``pem`` is ``-----BEGIN RSA PRIVATE KEY-----`` (PKCS#1, no trailing newline, as in the API
  examples).  ED25519 ``pem`` is the OpenSSH private key format (``-----BEGIN OPENSSH PRIVATE
  KEY-----``) -- the only PEM-armoured form OpenSSH reads for ed25519; it keeps its trailing newline
  because OpenSSH refuses an openssh-key-v1 file without one.  ``ppk`` is an unencrypted PuTTY
  private key file, version 2 (``PuTTY-User-Key-File-2``, HMAC-SHA-1 MAC, comment
  ``imported-openssh-key`` as puttygen writes for converted keys), which every PuTTY release reads;
  the EC2 docs do not say which PPK version EC2 emits, so :func:`to_ppk` can also write version 3
  (PuTTY >= 0.75; unencrypted v3 needs no Argon2, its MAC is HMAC-SHA-256 with an empty key).
* Fingerprints (KeyPairInfo.keyFingerprint; User Guide "Verify the fingerprint"):

  - created RSA: SHA-1 of the DER PKCS#8 private key, lower-case hex with colons
    (``openssl pkcs8 -in key.pem -inform PEM -outform DER -topk8 -nocrypt | openssl sha1 -c``);
  - imported RSA: MD5 of the DER SubjectPublicKeyInfo public key, hex with colons
    (``openssl rsa -in key -pubout -outform DER | openssl md5 -c``).  The API reference calls this
    "the MD5 public key fingerprint as specified in section 4 of RFC4716", but what EC2 returns, and
    what the User Guide tells you to compare against, is the MD5 of the DER key, not of the SSH blob
    (``ssh-keygen -l -E md5`` prints a different value);
  - ED25519 (created or imported): "the base64-encoded SHA-256 digest, which is the default for
    OpenSSH, starting with OpenSSH 6.8" -- SHA-256 of the SSH public key blob, standard base64 *with*
    its ``=`` padding and without the ``SHA256:`` prefix (``ssh-keygen -l`` prints the same digest
    unpadded).

* ImportKeyPair accepts RSA and ED25519 keys in "OpenSSH public key format (the format in
  ~/.ssh/authorized_keys)", "Base64 encoded DER format" and "SSH public key file format as specified
  in RFC4716" (PEM-armoured DER, ``BEGIN PUBLIC KEY``/``BEGIN RSA PUBLIC KEY``, is accepted too);
  supported RSA lengths are 1024, 2048 and 4096; ECDSA and DSA keys are refused.  Anything else is
  ``InvalidKey.Format`` "Key is not in valid OpenSSH public key format" (HTTP 400), EC2's wording.

``PublicKeyMaterial`` is a blob: botocore base64-encodes it on the wire and the server decodes it, so
:func:`import_public_key` takes the decoded bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

KEY_TYPES = ("rsa", "ed25519")
KEY_FORMATS = ("pem", "ppk")
RSA_CREATE_BITS = 2048
RSA_IMPORT_BITS = (1024, 2048, 4096)
PPK_COMMENT = "imported-openssh-key"  # what puttygen writes for a key converted from OpenSSH
MSG_INVALID_FORMAT = "Key is not in valid OpenSSH public key format"



class KeyPairError(ValueError):
    """An EC2 client error about key material; ``code``/``message``/``status`` are what EC2 returns."""

    def __init__(self, code: str, message: str, status: int = 400, detail: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.detail = detail  # why, for logs; EC2 itself only says ``message``

    def __repr__(self) -> str:
        return f"KeyPairError({self.code!r}, {self.message!r}, detail={self.detail!r})"


@dataclass(frozen=True)
class GeneratedKey:
    """CreateKeyPair's result: ``keyMaterial``, the public key (``ssh-... <base64>``, no comment), ``keyFingerprint``."""

    private_key_material: str
    public_key_openssh: str
    fingerprint: str
    key_type: str = "rsa"


@dataclass(frozen=True)
class ImportedKey:
    """ImportKeyPair's result: key type (``rsa``/``ed25519``), public key without comment, fingerprint."""

    key_type: str
    public_key_openssh: str
    fingerprint: str
    comment: str | None = None


def _invalid(detail: str) -> KeyPairError:
    return KeyPairError("InvalidKey.Format", MSG_INVALID_FORMAT, detail=detail)


# ------------------------------------------------------------------------------------- fingerprints


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def created_rsa_fingerprint(private_key: rsa.RSAPrivateKey) -> str:
    """SHA-1 of the DER PKCS#8 private key, ``aa:bb:...`` (EC2's fingerprint for keys it created)."""
    der = private_key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return _colon_hex(hashlib.sha1(der).digest())


def imported_rsa_fingerprint(public_key: rsa.RSAPublicKey) -> str:
    """MD5 of the DER SubjectPublicKeyInfo, ``aa:bb:...`` (EC2's fingerprint for imported RSA keys)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _colon_hex(hashlib.md5(der).digest())


def ed25519_fingerprint(public_key: ed25519.Ed25519PublicKey) -> str:
    """Base64 (padded) SHA-256 of the SSH public key blob: ``ssh-keygen -l``'s digest plus ``=``."""
    return base64.b64encode(hashlib.sha256(_ssh_blob(public_key)).digest()).decode()


def _ssh_blob(public_key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> bytes:
    line = public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


def _openssh_line(public_key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


# ------------------------------------------------------------------------------------------- PuTTY


def _ssh_string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _ssh_mpint(value: int) -> bytes:
    if value == 0:
        return _ssh_string(b"")
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    if raw[0] & 0x80:
        raw = b"\x00" + raw
    return _ssh_string(raw)


def _wrap64(data: bytes) -> list[str]:
    text = base64.b64encode(data).decode()
    return [text[i : i + 64] for i in range(0, len(text), 64)]


PPK_V2_MAC_KEY_SEED = b"putty-private-key-file-mac-key"
PPK_VERSION = 2  # what create_key_pair writes; 3 is available for callers that want it


def _ppk_mac_data(algorithm: str, encryption: str, comment: str, public_blob: bytes, private_blob: bytes) -> bytes:
    return b"".join(
        _ssh_string(part)
        for part in (algorithm.encode(), encryption.encode(), comment.encode(), public_blob, private_blob)
    )


def ppk_v2_mac(algorithm: str, encryption: str, comment: str, public_blob: bytes, private_blob: bytes,
               passphrase: bytes = b"") -> str:
    """PPK v2 ``Private-MAC``: HMAC-SHA-1 keyed with SHA-1("putty-private-key-file-mac-key" + passphrase)
    over the SSH strings algorithm, encryption, comment, public blob, private blob (PuTTY manual, App. C).
    """
    key = hashlib.sha1(PPK_V2_MAC_KEY_SEED + passphrase).digest()
    data = _ppk_mac_data(algorithm, encryption, comment, public_blob, private_blob)
    return hmac.new(key, data, hashlib.sha1).hexdigest()


def ppk_v3_mac_unencrypted(algorithm: str, comment: str, public_blob: bytes, private_blob: bytes) -> str:
    """PPK v3 ``Private-MAC`` of an unencrypted file: HMAC-SHA-256 with an empty key (no Argon2 needed)."""
    data = _ppk_mac_data(algorithm, "none", comment, public_blob, private_blob)
    return hmac.new(b"", data, hashlib.sha256).hexdigest()


def to_ppk(
    private_key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey,
    comment: str = PPK_COMMENT,
    version: int = PPK_VERSION,
) -> str:
    """An unencrypted PuTTY private key file (``PuTTY-User-Key-File-2``, or ``-3`` with ``version=3``)."""
    if version not in (2, 3):
        raise ValueError(f"PPK version {version} not supported (2 or 3)")
    public_blob = _ssh_blob(private_key.public_key())
    if isinstance(private_key, rsa.RSAPrivateKey):
        algorithm = "ssh-rsa"
        nums = private_key.private_numbers()
        # PuTTY: mpint d, mpint p, mpint q, mpint iqmp (= q^-1 mod p, as cryptography's iqmp)
        private_blob = b"".join(_ssh_mpint(v) for v in (nums.d, nums.p, nums.q, nums.iqmp))
    elif isinstance(private_key, ed25519.Ed25519PrivateKey):
        algorithm = "ssh-ed25519"
        seed = private_key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        private_blob = _ssh_string(seed)  # PuTTY: string, the 32-byte private key
    else:  # pragma: no cover - guarded by callers
        raise TypeError(f"unsupported key {type(private_key).__name__}")
    encryption = "none"  # unencrypted: no padding of the private blob, no Key-Derivation lines (v3)
    public_lines = _wrap64(public_blob)
    private_lines = _wrap64(private_blob)
    if version == 2:
        mac = ppk_v2_mac(algorithm, encryption, comment, public_blob, private_blob)
    else:
        mac = ppk_v3_mac_unencrypted(algorithm, comment, public_blob, private_blob)
    lines = [
        f"PuTTY-User-Key-File-{version}: {algorithm}",
        f"Encryption: {encryption}",
        f"Comment: {comment}",
        f"Public-Lines: {len(public_lines)}",
        *public_lines,
        f"Private-Lines: {len(private_lines)}",
        *private_lines,
        f"Private-MAC: {mac}",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ create


def create_key_pair(key_type: str = "rsa", key_format: str = "pem") -> GeneratedKey:
    """Generate a key pair as CreateKeyPair does (RSA 2048 or ED25519; ``pem`` or ``ppk``).

    Raises ``KeyPairError("InvalidParameterValue", ...)`` for a key type or format EC2 does not know
    (botocore validates the enums client-side, so only raw Query clients can get there).
    """
    if key_type not in KEY_TYPES:
        raise KeyPairError(
            "InvalidParameterValue",
            f"Value ({key_type}) for parameter keyType is invalid. Valid values are rsa, ed25519",
        )
    if key_format not in KEY_FORMATS:
        raise KeyPairError(
            "InvalidParameterValue",
            f"Value ({key_format}) for parameter keyFormat is invalid. Valid values are pem, ppk",
        )
    private_key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if key_type == "rsa":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_CREATE_BITS)
        fingerprint = created_rsa_fingerprint(private_key)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1: BEGIN RSA PRIVATE KEY
            serialization.NoEncryption(),
        ).decode().rstrip("\n")
    else:
        private_key = ed25519.Ed25519PrivateKey.generate()
        fingerprint = ed25519_fingerprint(private_key.public_key())
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        ).decode()
    material = pem if key_format == "pem" else to_ppk(private_key)
    return GeneratedKey(
        private_key_material=material,
        public_key_openssh=_openssh_line(private_key.public_key()),
        fingerprint=fingerprint,
        key_type=key_type,
    )


# ------------------------------------------------------------------------------------------ import


def _b64decode_strict(text: str) -> bytes:
    cleaned = re.sub(r"\s+", "", text)
    if not cleaned:
        raise _invalid("empty base64")
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _invalid(f"bad base64: {exc}") from None


def _read_ssh_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(blob):
        raise _invalid("truncated SSH blob")
    (length,) = struct.unpack(">I", blob[offset : offset + 4])
    end = offset + 4 + length
    if end > len(blob):
        raise _invalid("truncated SSH blob")
    return blob[offset + 4 : end], end


def _from_ssh_blob(blob: bytes, declared_type: str | None = None) -> rsa.RSAPublicKey | ed25519.Ed25519PublicKey:
    name, _ = _read_ssh_string(blob, 0)
    try:
        key_name = name.decode("ascii")
    except UnicodeDecodeError:
        raise _invalid("key type is not ASCII") from None
    if declared_type is not None and declared_type != key_name:
        raise _invalid(f"declared type {declared_type} but blob is {key_name}")
    if key_name not in ("ssh-rsa", "ssh-ed25519"):
        raise _invalid(f"unsupported key type {key_name}")
    line = f"{key_name} {base64.b64encode(blob).decode()}".encode()
    try:
        key = serialization.load_ssh_public_key(line)
    except (ValueError, TypeError) as exc:
        raise _invalid(f"cannot parse {key_name} blob: {exc}") from None
    if _ssh_blob(key) != blob:  # trailing garbage or a non-canonical encoding
        raise _invalid("SSH blob is not canonical")
    return key  # type: ignore[return-value]


def _parse_rfc4716(text: str) -> tuple[bytes, str | None]:
    lines = [ln.rstrip("\r") for ln in text.strip().splitlines()]
    if not lines or lines[0].strip() != "---- BEGIN SSH2 PUBLIC KEY ----":
        raise _invalid("no RFC4716 begin marker")
    if lines[-1].strip() != "---- END SSH2 PUBLIC KEY ----":
        raise _invalid("no RFC4716 end marker")
    body = lines[1:-1]
    comment: str | None = None
    i = 0
    while i < len(body) and ":" in body[i]:
        header = body[i]
        while header.endswith("\\") and i + 1 < len(body):  # continuation lines
            i += 1
            header = header[:-1] + body[i]
        name, _, value = header.partition(":")
        if name.strip().lower() == "comment":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            comment = value
        i += 1
    return _b64decode_strict("".join(body[i:])), comment


def _from_der(der: bytes) -> rsa.RSAPublicKey | ed25519.Ed25519PublicKey:
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        try:  # PKCS#1 RSAPublicKey
            pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(der) + b"-----END RSA PUBLIC KEY-----\n"
            key = serialization.load_pem_public_key(pem)
        except (ValueError, TypeError) as exc:
            raise _invalid(f"not a DER public key: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey | ed25519.Ed25519PublicKey):
        raise _invalid(f"unsupported key type {type(key).__name__}")
    return key


def _parse_public_key(text: str) -> tuple[rsa.RSAPublicKey | ed25519.Ed25519PublicKey, str | None]:
    stripped = text.strip()
    if stripped.startswith("---- BEGIN SSH2 PUBLIC KEY ----"):
        blob, comment = _parse_rfc4716(stripped)
        return _from_ssh_blob(blob), comment
    if stripped.startswith("-----BEGIN "):
        match = re.fullmatch(r"-----BEGIN (RSA )?PUBLIC KEY-----\s*(.*?)\s*-----END \1?PUBLIC KEY-----", stripped,
                             re.DOTALL)
        if match is None:
            raise _invalid("PEM block is not a public key")
        return _from_der(_b64decode_strict(match.group(2))), None
    parts = stripped.split(None, 2)
    if len(parts) >= 2 and parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        if "\n" in stripped:
            raise _invalid("more than one line")
        comment = parts[2].strip() if len(parts) == 3 and parts[2].strip() else None
        return _from_ssh_blob(_b64decode_strict(parts[1]), declared_type=parts[0]), comment
    if len(parts) == 1 or "\n" in stripped:
        return _from_der(_b64decode_strict(stripped)), None
    raise _invalid("unrecognised public key format")


def import_public_key(material: bytes) -> ImportedKey:
    """Parse public key material as ImportKeyPair does; raise ``KeyPairError`` (``InvalidKey.Format``).

    Accepts an OpenSSH public key line (``ssh-rsa``/``ssh-ed25519`` with optional comment), an RFC4716
    ``---- BEGIN SSH2 PUBLIC KEY ----`` block, base64 DER (SubjectPublicKeyInfo or PKCS#1) and the same
    DER in PEM armour.  RSA keys must be 1024, 2048 or 4096 bits.
    """
    if not material or not material.strip():
        raise _invalid("empty key material")
    try:
        text = material.decode("ascii")
    except UnicodeDecodeError:
        raise _invalid("key material is not ASCII text") from None
    key, comment = _parse_public_key(text)
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size not in RSA_IMPORT_BITS:
            raise _invalid(f"RSA key length {key.key_size} not supported (1024, 2048 or 4096)")
        return ImportedKey("rsa", _openssh_line(key), imported_rsa_fingerprint(key), comment)
    return ImportedKey("ed25519", _openssh_line(key), ed25519_fingerprint(key), comment)
