"""Build ec2d-tiny (cached) and boot it with plain libvirt (TCG) in a test namespace: DHCP from
dnsmasq, IMDSv2 from a fixture metadata server on 169.254.169.254, SSH as ec2-user with sudo,
user-data once per instance, reboot from inside, clean ACPI shutdown.

Only addresses inside the namespace created here are contacted."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Iterator

import libvirt
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

from orchestrator.images.cache import ImageArtifact, default_cache_dir, ensure_image, list_images

USER_DATA = b"#!/bin/sh\necho user-data-ran-as-$(id -u)\necho x >> /var/tmp/user-data-count\n"


def require_host() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        libvirt.open("qemu:///system").close()
    except libvirt.libvirtError as exc:
        pytest.skip(f"libvirt not available: {exc}")


@pytest.fixture(scope="module")
def tiny_image() -> ImageArtifact:
    require_host()
    started = time.monotonic()
    image = ensure_image("ec2d-tiny", default_cache_dir())
    print(f"ensure_image(ec2d-tiny): {time.monotonic() - started:.2f} s -> {image.path}")
    return image


def test_tiny_image_manifest(tiny_image: ImageArtifact) -> None:
    m = tiny_image.manifest
    assert m["name"] == "ec2d-tiny"
    assert tiny_image.path.name == f"ec2d-tiny-{m['key'][:12]}"
    assert m["root_device"] == "/dev/xvda" and m["architecture"] == "x86_64"
    assert m["login_user"] == "ec2-user" and m["imds_support"] == "v2.0"
    assert "root=/dev/vda" in m["kernel_cmdline"] and "console=ttyS0" in m["kernel_cmdline"]
    assert set(m["inputs"]["packages"]) >= {"linux-image-cloud-amd64", "busybox-static", "dropbear-bin"}
    assert 64 << 20 <= m["virtual_size"] <= 128 << 20
    assert tiny_image.kernel and tiny_image.initrd and tiny_image.disk.stat().st_size < m["virtual_size"]
    assert tiny_image in list_images(default_cache_dir())
    built_at = tiny_image.disk.stat().st_mtime_ns
    again = ensure_image("ec2d-tiny", default_cache_dir())
    assert again.path == tiny_image.path and again.disk.stat().st_mtime_ns == built_at  # cached, not rebuilt


@pytest.fixture
def booted(tiny_image: ImageArtifact) -> Iterator[tuple[Guest, InstanceData, object, object]]:
    pkey, pub = generate_ed25519()
    mac = random_mac()
    with guest_network() as (net, dns, mds, workdir):
        ip = net.host_ip(10)
        dns.close()
        dns.hosts[mac] = ip
        dns.start()
        inst = InstanceData("i-0ec2d7e570000001", mac, ip, public_key=pub, user_data=USER_DATA,
                            require_token=True)
        mds.instances[ip] = inst
        guest = Guest(net, workdir, kernel=tiny_image.kernel, initrd=tiny_image.initrd,
                      cmdline=tiny_image.kernel_cmdline, base_disk=tiny_image.disk, mac=mac)
        try:
            yield guest, inst, pkey, mds
        finally:
            print(guest.console()[-4000:])
            guest.close()


def host_key_fingerprint(key: object) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()  # type: ignore[attr-defined]
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def test_tiny_boots_ssh_sudo_userdata_reboot_and_acpi_shutdown(booted) -> None:  # noqa: ANN001
    guest, inst, pkey, mds = booted
    ns = guest.net.ns
    t0 = guest.start()
    t_banner, banner = wait_ssh_banner(ns, inst.ip, timeout=300)
    print(f"boot to SSH banner: {t_banner - t0:.2f} s ({banner})")
    assert "dropbear" in banner

    client = ssh_client(ns, inst.ip, "ec2-user", pkey)
    try:
        rc, out, err = ssh_run(client, "id -u; sudo id -u; uname -r")
        assert rc == 0, err
        uid, sudo_uid, release = out.split()
        assert (uid, sudo_uid) == ("1000", "0")
        assert re.fullmatch(r"\d+\.\d+\.\d+-\d+-cloud-amd64", release)
        rc, out, err = ssh_run(client, "stat -c '%a %U' ~/.ssh ~/.ssh/authorized_keys; hostname; "
                                       "cat /var/tmp/user-data-count | wc -l; sudo cat /var/log/user-data.log; "
                                       "echo hello > ~/file && cat ~/file; df -k / | tail -1")
        assert rc == 0, err
        lines = out.splitlines()
        assert lines[0] == "700 ec2-user" and lines[1] == "600 ec2-user"
        assert lines[2] == f"ip-{inst.ip.replace('.', '-')}"
        assert lines[3].strip() == "1"
        assert "user-data-ran-as-0" in out and "hello" in lines
        free_kib = int(lines[-1].split()[3])
        assert free_kib > 32 * 1024, lines[-1]
        # sudo is only for group wheel
        rc, out, _ = ssh_run(client, "sudo sh -c 'echo $HOME; id -un'")
        assert out.split() == ["/root", "root"]
        seen_fp = host_key_fingerprint(client.get_transport().get_remote_server_key())
    finally:
        client.close()

    console = guest.console()
    for marker in ("ec2d-tiny: network up " + inst.ip, "IMDSv2 token acquired", f"instance-id {inst.instance_id}",
                   "installed 1 SSH key(s)", "running user-data script", "ec2d-tiny: ready",
                   "-----BEGIN SSH HOST KEY FINGERPRINTS-----"):
        assert marker in console, marker
    assert seen_fp in console  # the fingerprint printed on the console is the key dropbear uses
    assert console.count("user-data-ran-as-0") == 1
    puts = [r for r in mds.requests if r[1] == "PUT"]
    gets = [r for r in mds.requests if r[1] == "GET"]
    assert puts and gets and all(r[3] for r in gets)  # IMDSv2: every GET carried the token

    # reboot from inside: same host key, user-data not run again
    client = ssh_client(ns, inst.ip, "ec2-user", pkey)
    try:
        client.exec_command("sudo reboot")
    finally:
        time.sleep(0.5)
        client.close()
    guest.wait_console("The system is going down", timeout=300)
    wait_ssh_banner(ns, inst.ip, timeout=300)
    deadline = time.monotonic() + 300
    while guest.console().count("ec2d-tiny: ready") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert guest.console().count("ec2d-tiny: ready") == 2
    client = ssh_client(ns, inst.ip, "ec2-user", pkey)
    try:
        assert host_key_fingerprint(client.get_transport().get_remote_server_key()) == seen_fp
        rc, out, _ = ssh_run(client, "wc -l < /var/tmp/user-data-count; cat ~/file")
        assert out.split() == ["1", "hello"]
    finally:
        client.close()
    assert guest.console().count("user-data-ran-as-0") == 1

    # ACPI power button (virsh shutdown): a clean poweroff (the deadline only bounds a hung guest;
    # the time it took is a figure, printed, not asserted: TCG on a loaded host varies)
    t_stop = time.monotonic()
    guest.dom.shutdownFlags(libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN)
    stopped = guest.wait_stopped(300)
    print(f"ACPI shutdown to domain stopped: {stopped - t_stop:.2f} s")
    console = guest.console()
    assert "ACPI power button pressed" in console and "filesystems synced" in console


def test_tiny_falls_back_to_imdsv1(tiny_image: ImageArtifact) -> None:
    """Metadata server that refuses the token PUT (IMDSv2 off): the guest still gets its data."""
    mac = random_mac()
    _pkey, pub = generate_ed25519()
    with guest_network() as (net, dns, mds, workdir):
        ip = net.host_ip(11)
        dns.close()
        dns.hosts[mac] = ip
        dns.start()
        mds.instances[ip] = InstanceData("i-0ec2d7e570000002", mac, ip, public_key=pub)
        mds.disable_token = True
        guest = Guest(net, workdir, kernel=tiny_image.kernel, initrd=tiny_image.initrd,
                      cmdline=tiny_image.kernel_cmdline, base_disk=tiny_image.disk, mac=mac)
        try:
            guest.start()
            guest.wait_console("ec2d-tiny: ready", timeout=300)
            console = guest.console()
            assert "using IMDSv1" in console and "instance-id i-0ec2d7e570000002" in console
            assert re.search(r"installed 1 SSH key", console)
            assert not any(r[3] for r in mds.requests if r[1] == "GET")
        finally:
            print(guest.console()[-3000:])
            guest.close()
