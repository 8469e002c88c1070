"""The host's own CA (orchestrator/tls/service_ca): made once, private key kept private, one CA however
many processes ask at once, and endpoint certificates that a real TLS client verifies for the
service names guests resolve to ec2d."""

from __future__ import annotations

import multiprocessing
import socket
import ssl
import stat
import threading
from pathlib import Path

import pytest

from orchestrator.tls import service_ca

NAMES = ("s3.amazonaws.com", "b.s3.us-east-1.amazonaws.com", "sts.us-east-1.amazonaws.com",
         "sts.amazonaws.com", "s3.us-east-1.amazonaws.com", "b.s3.amazonaws.com")


def test_made_once_with_a_private_key(tmp_path: Path) -> None:
    cert = service_ca.ensure(tmp_path)
    directory = service_ca.ca_dir(tmp_path)
    assert cert == directory / "ca.crt" and cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "ca.key").stat().st_mode) == 0o600
    first = cert.read_bytes()
    assert service_ca.ensure(tmp_path) == cert and cert.read_bytes() == first
    assert service_ca.certificate_pem(tmp_path) == first
    assert len(service_ca.fingerprint(tmp_path)) == 64
    assert service_ca.fingerprint(tmp_path) != service_ca.fingerprint(tmp_path / "other")


def _ensure_in_child(cache_dir: str, start: multiprocessing.synchronize.Event, out: multiprocessing.Queue) -> None:
    start.wait(30)
    out.put(service_ca.fingerprint(Path(cache_dir)))


def test_concurrent_processes_make_one_ca(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_ensure_in_child, args=(str(tmp_path), start, out)) for _ in range(6)]
    for p in procs:
        p.start()
    start.set()  # all six race for the lock
    prints = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert prints == {service_ca.fingerprint(tmp_path)}
    leftovers = sorted(p.name for p in service_ca.ca_dir(tmp_path).iterdir())
    assert leftovers == [".lock", "ca.crt", "ca.key"]


def _handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, name: str) -> str:
    """A real TLS handshake over a socket pair; returns the server certificate's subject CN as the
    client saw it (raises the client's verification error)."""
    left, right = socket.socketpair()
    errors: list[BaseException] = []

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(right, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError) as exc:  # the client gave up: its error is the one asserted
            errors.append(exc)

    server = threading.Thread(target=serve)
    server.start()
    try:
        with client_ctx.wrap_socket(left, server_hostname=name) as tls:
            peer = tls.getpeercert()
            tls.sendall(b"x")
        subject = dict(x[0] for x in peer["subject"])
        return str(subject["commonName"])
    finally:
        left.close()
        server.join(30)
        right.close()


def _server_ctx(cache_dir: Path, tmp_path: Path) -> ssl.SSLContext:
    issued = service_ca.endpoint_certificate(cache_dir, ["us-east-1", "eu-west-1"], ips=["10.0.0.2"])
    (tmp_path / "ep.crt").write_bytes(issued.cert_pem)
    (tmp_path / "ep.key").write_bytes(issued.key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "ep.crt", tmp_path / "ep.key")
    return ctx


@pytest.mark.parametrize("name", NAMES)
def test_endpoint_certificate_verifies_for_service_names(tmp_path: Path, name: str) -> None:
    cache = tmp_path / "cache"
    client = ssl.create_default_context(cafile=service_ca.ensure(cache))  # hostname check on, CA only
    assert _handshake(_server_ctx(cache, tmp_path), client, name) == "ec2d service endpoint"


def test_endpoint_certificate_is_refused_for_other_names_and_by_other_cas(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    server = _server_ctx(cache, tmp_path)
    client = ssl.create_default_context(cafile=service_ca.ensure(cache))
    for name in ("example.com", "a.b.s3.us-east-1.amazonaws.com", "sts.ap-south-1.amazonaws.com"):
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(server, client, name)
    stranger = ssl.create_default_context(cafile=service_ca.ensure(tmp_path / "another"))
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, stranger, "s3.amazonaws.com")
