"""EC2 key pairs: generated material loads, fingerprints match independent tools, imports parse."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import shutil
import subprocess
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from orchestrator.domain.keypairs import (
    MSG_INVALID_FORMAT,
    GeneratedKey,
    ImportedKey,
    KeyPairError,
    create_key_pair,
    ed25519_fingerprint,
    import_public_key,
    ppk_v2_mac,
    to_ppk,
)

SSH_KEYGEN = shutil.which("ssh-keygen")
OPENSSL = shutil.which("openssl")
PUTTYGEN = shutil.which("puttygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen (openssh-client) not installed")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
needs_puttygen = pytest.mark.skipif(PUTTYGEN is None, reason="puttygen (putty-tools) not installed")


def run(*args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(args, input=stdin, capture_output=True, check=True).stdout.decode()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def parse_ppk(text: str) -> dict[str, object]:
    """A careful, independent re-parse of a PPK v2 file."""
    lines = text.splitlines()
    fields: dict[str, object] = {}
    i = 0
    while i < len(lines):
        key, _, value = lines[i].partition(": ")
        if key in ("Public-Lines", "Private-Lines"):
            count = int(value)
            fields[key] = base64.b64decode("".join(lines[i + 1 : i + 1 + count]))
            assert all(len(ln) <= 64 for ln in lines[i + 1 : i + 1 + count])
            i += count + 1
            continue
        fields[key] = value
        i += 1
    return fields


def read_string(blob: bytes, off: int) -> tuple[bytes, int]:
    n = int.from_bytes(blob[off : off + 4], "big")
    return blob[off + 4 : off + 4 + n], off + 4 + n


def ssh_keygen_sha256(pub_line: str, tmp_path: Path) -> str:
    out = run(SSH_KEYGEN or "ssh-keygen", "-l", "-E", "sha256", "-f", str(write(tmp_path, "k.pub", pub_line + "\n")))
    return out.split()[1].removeprefix("SHA256:")


# ------------------------------------------------------------------------------------------ create


def test_rsa_pem_is_pkcs1_2048_and_loads() -> None:
    key = create_key_pair("rsa", "pem")
    assert isinstance(key, GeneratedKey) and key.key_type == "rsa"
    assert key.private_key_material.startswith("-----BEGIN RSA PRIVATE KEY-----\n")
    assert key.private_key_material.endswith("-----END RSA PRIVATE KEY-----")
    loaded = serialization.load_pem_private_key(key.private_key_material.encode(), password=None)
    assert isinstance(loaded, rsa.RSAPrivateKey) and loaded.key_size == 2048
    pk = paramiko.RSAKey.from_private_key(io.StringIO(key.private_key_material))
    assert pk.get_bits() == 2048
    assert key.public_key_openssh == f"ssh-rsa {pk.get_base64()}"


def test_ed25519_pem_is_openssh_format_and_loads() -> None:
    key = create_key_pair("ed25519", "pem")
    assert key.private_key_material.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    loaded = serialization.load_ssh_private_key(key.private_key_material.encode(), password=None)
    assert isinstance(loaded, ed25519.Ed25519PrivateKey)
    pk = paramiko.Ed25519Key.from_private_key(io.StringIO(key.private_key_material))
    assert key.public_key_openssh == f"ssh-ed25519 {pk.get_base64()}"


@needs_ssh_keygen
@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_ssh_keygen_reads_generated_private_key(key_type: str, tmp_path: Path) -> None:
    key = create_key_pair(key_type)
    out = run(SSH_KEYGEN or "", "-y", "-f", str(write(tmp_path, "id", key.private_key_material)))
    assert out.split()[:2] == key.public_key_openssh.split()[:2]


@needs_openssl
def test_created_rsa_fingerprint_is_sha1_of_pkcs8_der_like_the_ec2_guide(tmp_path: Path) -> None:
    key = create_key_pair("rsa")
    path = write(tmp_path, "k.pem", key.private_key_material + "\n")
    der = subprocess.run(
        [OPENSSL or "", "pkcs8", "-in", str(path), "-inform", "PEM", "-outform", "DER", "-topk8", "-nocrypt"],
        capture_output=True, check=True,
    ).stdout
    out = run(OPENSSL or "", "sha1", "-c", stdin=der)
    assert key.fingerprint == out.strip().split()[-1]
    assert len(key.fingerprint) == 59 and key.fingerprint.count(":") == 19


def test_created_rsa_fingerprint_with_cryptography() -> None:
    key = create_key_pair("rsa")
    private = serialization.load_pem_private_key(key.private_key_material.encode(), password=None)
    der = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    assert key.fingerprint == ":".join(f"{b:02x}" for b in hashlib.sha1(der).digest())


@needs_ssh_keygen
def test_created_ed25519_fingerprint_is_ssh_keygen_sha256_padded(tmp_path: Path) -> None:
    key = create_key_pair("ed25519")
    assert key.fingerprint.endswith("=") and len(key.fingerprint) == 44
    assert key.fingerprint == ssh_keygen_sha256(key.public_key_openssh, tmp_path) + "="


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_ppk_v2_structure_and_mac(key_type: str) -> None:
    key = create_key_pair(key_type, "ppk")
    text = key.private_key_material
    assert text.startswith(f"PuTTY-User-Key-File-2: ssh-{key_type}\nEncryption: none\nComment: ")
    fields = parse_ppk(text)
    public_blob = fields["Public-Lines"]
    private_blob = fields["Private-Lines"]
    assert isinstance(public_blob, bytes) and isinstance(private_blob, bytes)
    assert base64.b64encode(public_blob).decode() == key.public_key_openssh.split()[1]
    # the MAC, computed independently from the spec (PuTTY manual appendix C, PPK v2)
    mac_key = hashlib.sha1(b"putty-private-key-file-mac-key").digest()
    data = b""
    for part in (f"ssh-{key_type}".encode(), b"none", str(fields["Comment"]).encode(), public_blob, private_blob):
        data += len(part).to_bytes(4, "big") + part
    assert fields["Private-MAC"] == hmac.new(mac_key, data, hashlib.sha1).hexdigest()
    assert fields["Private-MAC"] == ppk_v2_mac(f"ssh-{key_type}", "none", str(fields["Comment"]),
                                               public_blob, private_blob)


def test_ppk_rsa_private_blob_round_trip() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fields = parse_ppk(to_ppk(private))
    blob = fields["Private-Lines"]
    assert isinstance(blob, bytes)
    values = []
    off = 0
    for _ in range(4):
        raw, off = read_string(blob, off)
        values.append(int.from_bytes(raw, "big"))
    assert off == len(blob)
    d, p, q, iqmp = values
    nums = private.private_numbers()
    assert (d, p, q) == (nums.d, nums.p, nums.q)
    assert p * q == nums.public_numbers.n and (iqmp * q) % p == 1


def test_ppk_ed25519_private_blob_round_trip() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    fields = parse_ppk(to_ppk(private))
    blob = fields["Private-Lines"]
    assert isinstance(blob, bytes)
    seed, off = read_string(blob, 0)
    assert off == len(blob) and len(seed) == 32
    rebuilt = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    raw = serialization.Encoding.Raw
    assert rebuilt.public_key().public_bytes(raw, serialization.PublicFormat.Raw) == \
        private.public_key().public_bytes(raw, serialization.PublicFormat.Raw)


@needs_puttygen
@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_puttygen_loads_ppk_and_checks_mac(key_type: str, version: int, tmp_path: Path) -> None:
    """puttygen verifies the MAC when it loads the private half; convert to OpenSSH and compare."""
    private: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048) if key_type == "rsa" \
        else ed25519.Ed25519PrivateKey.generate()
    text = to_ppk(private, version=version)
    assert text.startswith(f"PuTTY-User-Key-File-{version}: ssh-{key_type}\n")
    ppk = write(tmp_path, "k.ppk", text)
    out = tmp_path / "k.openssh"
    run(PUTTYGEN or "", str(ppk), "-O", "private-openssh-new", "-o", str(out))
    converted = serialization.load_ssh_private_key(out.read_bytes(), password=None)
    fmt = (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert converted.private_bytes(*fmt) == private.private_bytes(*fmt)
    # a tampered file is refused: proves the MAC is checked
    tampered = write(tmp_path, "bad.ppk", ppk.read_text().replace("Comment: ", "Comment: x", 1))
    result = subprocess.run([PUTTYGEN or "", str(tampered), "-O", "private-openssh-new", "-o", str(out)],
                            capture_output=True)
    assert result.returncode != 0 and b"MAC" in result.stderr


@needs_puttygen
def test_puttygen_reads_created_ppk(tmp_path: Path) -> None:
    for key_type in ("rsa", "ed25519"):
        key = create_key_pair(key_type, "ppk")
        ppk = write(tmp_path, f"{key_type}.ppk", key.private_key_material)
        out = tmp_path / f"{key_type}.pub"
        run(PUTTYGEN or "", str(ppk), "-O", "private-openssh-new", "-o", str(tmp_path / f"{key_type}.key"))
        run(PUTTYGEN or "", str(ppk), "-O", "public-openssh", "-o", str(out))
        assert out.read_text().split()[:2] == key.public_key_openssh.split()


@pytest.mark.parametrize(("key_type", "key_format"), [("dsa", "pem"), ("rsa", "der"), ("ecdsa", "ppk")])
def test_create_refuses_unknown_type_or_format(key_type: str, key_format: str) -> None:
    with pytest.raises(KeyPairError) as info:
        create_key_pair(key_type, key_format)
    assert info.value.code == "InvalidParameterValue"


# ------------------------------------------------------------------------------------------ import


def rsa_pub(bits: int = 2048) -> rsa.RSAPublicKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()


def md5_spki(key: rsa.RSAPublicKey) -> str:
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ":".join(f"{b:02x}" for b in hashlib.md5(der).digest())


def openssh(key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.mark.parametrize("bits", [1024, 2048, 4096])
def test_import_openssh_rsa_sizes(bits: int) -> None:
    key = rsa_pub(bits)
    line = openssh(key)
    imported = import_public_key(f"{line} me@laptop\n".encode())
    assert isinstance(imported, ImportedKey)
    assert imported.key_type == "rsa"
    assert imported.public_key_openssh == line
    assert imported.comment == "me@laptop"
    assert imported.fingerprint == md5_spki(key)


def test_import_openssh_ed25519() -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    imported = import_public_key(openssh(key).encode())
    assert imported.key_type == "ed25519" and imported.comment is None
    blob = base64.b64decode(openssh(key).split()[1])
    assert imported.fingerprint == base64.b64encode(hashlib.sha256(blob).digest()).decode()
    assert imported.fingerprint == ed25519_fingerprint(key)


@needs_ssh_keygen
@needs_openssl
def test_imported_rsa_fingerprint_matches_the_ec2_guide_pipeline(tmp_path: Path) -> None:
    """EC2 guide: ssh-keygen -e -m PKCS8 -f key.pub | openssl pkey -pubin -outform DER | openssl md5 -c."""
    key = rsa_pub()
    pub = write(tmp_path, "k.pub", openssh(key) + " c\n")
    pkcs8 = run(SSH_KEYGEN or "", "-e", "-m", "PKCS8", "-f", str(pub)).encode()
    der = subprocess.run([OPENSSL or "", "pkey", "-pubin", "-outform", "DER"], input=pkcs8,
                         capture_output=True, check=True).stdout
    expected = run(OPENSSL or "", "md5", "-c", stdin=der).strip().split()[-1]
    imported = import_public_key(pub.read_bytes())
    assert imported.fingerprint == expected
    # and it is *not* ssh-keygen's MD5 (which hashes the SSH blob)
    ssh_md5 = run(SSH_KEYGEN or "", "-l", "-E", "md5", "-f", str(pub)).split()[1].removeprefix("MD5:")
    assert imported.fingerprint != ssh_md5


@needs_ssh_keygen
def test_imported_ed25519_fingerprint_matches_ssh_keygen(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    imported = import_public_key(openssh(key).encode())
    assert imported.fingerprint == ssh_keygen_sha256(openssh(key), tmp_path) + "="


@needs_ssh_keygen
@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_import_rfc4716_from_ssh_keygen(kind: str, tmp_path: Path) -> None:
    key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey
    key = rsa_pub() if kind == "rsa" else ed25519.Ed25519PrivateKey.generate().public_key()
    pub = write(tmp_path, "k.pub", openssh(key) + " someone@example.com\n")
    ssh2 = run(SSH_KEYGEN or "", "-e", "-f", str(pub))
    assert ssh2.startswith("---- BEGIN SSH2 PUBLIC KEY ----")
    imported = import_public_key(ssh2.encode())
    assert imported.key_type == kind and imported.public_key_openssh == openssh(key)


def test_import_rfc4716_with_continued_header() -> None:
    key = rsa_pub()
    body = base64.b64encode(base64.b64decode(openssh(key).split()[1])).decode()
    text = "\r\n".join([
        "---- BEGIN SSH2 PUBLIC KEY ----",
        'Comment: "a very long comment that \\',
        'continues here"',
        "x-private: stuff",
        *[body[i : i + 70] for i in range(0, len(body), 70)],
        "---- END SSH2 PUBLIC KEY ----",
    ])
    imported = import_public_key(text.encode())
    assert imported.comment == "a very long comment that continues here"
    assert imported.fingerprint == md5_spki(key)


def test_import_base64_der_spki_and_pkcs1() -> None:
    key = rsa_pub()
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1 = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    for der in (spki, pkcs1):
        imported = import_public_key(base64.b64encode(der))
        assert imported.public_key_openssh == openssh(key) and imported.fingerprint == md5_spki(key)
    wrapped = base64.encodebytes(spki)  # 76-column lines
    assert import_public_key(wrapped).fingerprint == md5_spki(key)


def test_import_base64_der_ed25519() -> None:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert import_public_key(base64.b64encode(der)).key_type == "ed25519"


def test_import_pem_public_key_forms() -> None:
    key = rsa_pub()
    for fmt in (serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1):
        pem = key.public_bytes(serialization.Encoding.PEM, fmt)
        assert import_public_key(pem).fingerprint == md5_spki(key)


def test_import_through_botocore_blob_encoding() -> None:
    """boto3 base64-encodes the PublicKeyMaterial blob; the server decodes before calling us."""
    line = openssh(rsa_pub()).encode()
    on_the_wire = base64.b64encode(line)
    assert import_public_key(base64.b64decode(on_the_wire)).public_key_openssh == line.decode()


def bad_materials() -> list[tuple[str, bytes]]:
    ec_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    rsa_line = openssh(rsa_pub())
    blob_b64 = rsa_line.split()[1]
    private_pem = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    return [
        ("empty", b""),
        ("whitespace", b"  \n"),
        ("garbage", b"this is not a key"),
        ("ecdsa", ec_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)),
        ("rsa-3072", openssh(rsa_pub(3072)).encode()),
        ("single-token", b"x"),
        ("type-mismatch", f"ssh-ed25519 {blob_b64}".encode()),
        ("truncated", f"ssh-rsa {blob_b64[:100]}".encode()),
        ("bad-base64", b"ssh-rsa AAAA!!!!"),
        ("trailing-garbage", f"ssh-rsa {base64.b64encode(base64.b64decode(blob_b64) + b'xx').decode()}".encode()),
        ("private-key", private_pem),
        ("binary", b"\x00\xff\xfe"),
        ("two-lines", f"{rsa_line}\n{rsa_line}".encode()),
        ("unterminated-ssh2", b"---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n"),
    ]


@pytest.mark.parametrize(("name", "material"), bad_materials())
def test_import_refuses_bad_material(name: str, material: bytes) -> None:
    with pytest.raises(KeyPairError) as info:
        import_public_key(material)
    assert info.value.code == "InvalidKey.Format"
    assert info.value.message == MSG_INVALID_FORMAT == "Key is not in valid OpenSSH public key format"
    assert info.value.status == 400


@needs_ssh_keygen
def test_import_refuses_ssh_keygen_dsa_and_ecdsa(tmp_path: Path) -> None:
    for kind in ("ecdsa", "dsa"):
        path = tmp_path / f"id_{kind}"
        result = subprocess.run([SSH_KEYGEN or "", "-q", "-t", kind, "-N", "", "-f", str(path)], capture_output=True)
        if result.returncode != 0:  # dsa may be compiled out
            continue
        with pytest.raises(KeyPairError):
            import_public_key((tmp_path / f"id_{kind}.pub").read_bytes())
