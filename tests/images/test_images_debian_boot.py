"""debian-12 (mmdebstrap + cloud-init) boots, takes its key and user-data from a metadata server
and lets ``admin`` sudo; the AWS CLI runs, the host's CA is in the system CA bundle, the bundle the
CLI uses, and the guest's OpenSSL verifies an endpoint certificate it issued. Slow under TCG (build
~2 min once, boot to SSH ~65 s), so it runs only with EC2D_TEST_DEBIAN=1.

Only addresses inside the namespace created here are contacted."""

from __future__ import annotations

import os
import time

import libvirt
import paramiko
import pytest
from guest_fixtures import (
    Guest,
    InstanceData,
    generate_ed25519,
    guest_network,
    random_mac,
    ssh_client,
    ssh_run,
    wait_ssh_banner,
)

from orchestrator.images.cache import default_cache_dir, ensure_image
from orchestrator.tls import service_ca

pytestmark = pytest.mark.skipif(os.environ.get("EC2D_TEST_DEBIAN") != "1",
                                reason="slow (TCG boot of systemd + cloud-init): set EC2D_TEST_DEBIAN=1")


def check_trust_in_guest(client: paramiko.SSHClient) -> None:
    """``aws --version`` runs; the CLI verifies with the system bundle, which holds the host's CA;
    the guest's OpenSSL accepts an endpoint certificate from that CA for an S3 bucket name."""
    rc, out, err = ssh_run(client, "aws --version", timeout=120)
    assert rc == 0 and out.startswith("aws-cli/2."), out + err
    which = "from awscli.botocore.httpsession import get_cert_path; print(get_cert_path(True))"
    rc, out, err = ssh_run(client, f"python3 -c '{which}'", timeout=120)
    assert (rc, out.strip()) == (0, "/etc/ssl/certs/ca-certificates.crt"), out + err
    ca_pem = service_ca.certificate_pem(default_cache_dir()).decode().strip()
    rc, out, err = ssh_run(client, "cat /etc/ssl/certs/ca-certificates.crt", timeout=60)
    assert rc == 0 and ca_pem in out, err
    leaf = service_ca.endpoint_certificate(default_cache_dir(), ["us-east-1"]).cert_pem.decode()
    rc, out, err = ssh_run(client, f"cat > /tmp/ep.pem <<'EOF'\n{leaf}EOF\n"
                                   "openssl verify -verify_hostname b.s3.us-east-1.amazonaws.com /tmp/ep.pem",
                           timeout=60)
    assert rc == 0 and "/tmp/ep.pem: OK" in out, out + err


def test_debian12_boots_with_cloud_init() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    image = ensure_image("debian-12", default_cache_dir())
    assert image.manifest["login_user"] == "admin"
    pkey, pub = generate_ed25519()
    mac = random_mac()
    with guest_network() as (net, dns, mds, workdir):
        ip = net.host_ip(12)
        dns.close()
        dns.hosts[mac] = ip
        dns.start()
        mds.instances[ip] = InstanceData("i-0deb12000000001", mac, ip, public_key=pub,
                                         user_data=b"#!/bin/sh\necho hello-from-user-data > /var/tmp/ud\n")
        guest = Guest(net, workdir, kernel=image.kernel, initrd=image.initrd, cmdline=image.kernel_cmdline or "",
                      base_disk=image.disk, mac=mac, memory_mib=1024, vcpus=2)
        try:
            t0 = guest.start()
            t1, banner = wait_ssh_banner(net.ns, ip, timeout=400)
            print(f"debian-12 boot to SSH banner: {t1 - t0:.1f} s ({banner})")
            client = ssh_client(net.ns, ip, "admin", pkey, timeout=300)
            try:
                rc, out, err = ssh_run(client, "id -u; sudo id -u; hostname", timeout=120)
                assert rc == 0, err
                assert out.split() == ["1000", "0", f"ip-{ip.replace('.', '-')}"]
                rc, out, err = ssh_run(client, "cloud-init status --wait >/dev/null; "
                                               "for i in $(seq 120); do [ -e /var/tmp/ud ] && break; sleep 1; done; "
                                               "cat /var/tmp/ud; cloud-init status", timeout=400)
                assert "hello-from-user-data" in out and "status: done" in out, out + err
                check_trust_in_guest(client)
            finally:
                client.close()
            t_stop = time.monotonic()
            guest.dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
            guest.wait_stopped(120)
            print(f"debian-12 ACPI shutdown: {time.monotonic() - t_stop:.1f} s")
        finally:
            guest.close()
