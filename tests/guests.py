"""Reaching guests the way a user inside the VPC would: SSH (paramiko) over a socket opened in
the VPC's network namespace."""

from __future__ import annotations

import io
import time
import weakref
from collections.abc import Callable
from typing import Any

import paramiko

from orchestrator.imds.listen import connect_in_netns


def private_key(material: str) -> paramiko.PKey:
    if "OPENSSH" in material:
        return paramiko.Ed25519Key.from_private_key(io.StringIO(material))
    return paramiko.RSAKey.from_private_key(io.StringIO(material))


# Commands started on each connection whose exit status may still be outstanding (see start_command).
_started: weakref.WeakKeyDictionary[paramiko.Transport, list[paramiko.Channel]] = weakref.WeakKeyDictionary()


def _settle(transport: paramiko.Transport, wait: float) -> None:
    """Wait (up to ``wait`` s) until every command started on ``transport`` has reported its exit
    status (or its channel closed), so the next channel never opens while the guest's sshd is
    still reaping the previous command's process."""
    deadline = time.monotonic() + wait
    for chan in _started.pop(transport, []):
        while not chan.exit_status_ready() and transport.is_active() and time.monotonic() < deadline:
            chan.status_event.wait(0.1)


def start_command(client: paramiko.SSHClient, command: str, timeout: float = 60,
                  wait: float = 60) -> tuple[paramiko.ChannelFile, paramiko.ChannelFile]:
    """``exec_command`` once the guest's sshd accepts the request: (stdout, stderr).

    One command at a time per connection: the exit status of every command started earlier on
    ``client`` is awaited first. The guests' dropbear (Debian 12's 2022.83; fixed upstream in
    2024.86, mkj/dropbear#321) closes a session channel opened while the SIGCHLD of the previous
    command is still pending before its exec starts; the exec then runs on a channel it already
    closed, trips an assertion and dropbear drops the whole connection. Clients saw "Channel
    closed." (or "Unable to open channel.") and then "SSH session not active". Reading a
    command's stdout to EOF is not enough: dropbear sends EOF when the pipes close, before it
    has reaped the process.

    A channel refused that way before any exec was sent leaves the connection up, so asking again
    on a new channel is safe; any other failure, or a closed connection, is raised at once.
    """
    deadline = time.monotonic() + wait
    transport = client.get_transport()
    if transport is not None:
        _settle(transport, wait)
    while True:
        try:
            _, out, err = client.exec_command(command, timeout=timeout)
            if transport is not None:
                _started.setdefault(transport, []).append(out.channel)
            return out, err
        except paramiko.SSHException:
            transport = client.get_transport()
            if transport is None or not transport.is_active() or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class Guest:
    def __init__(self, client: paramiko.SSHClient) -> None:
        self.client = client

    def run(self, command: str, timeout: float = 60, check: bool = True) -> str:
        out, err = start_command(self.client, command, timeout=timeout)
        status = out.channel.recv_exit_status()
        text = out.read().decode()
        if check and status != 0:
            raise AssertionError(f"{command!r} exited {status}: {err.read().decode()}")
        return text

    def close(self) -> None:
        self.client.close()


def ssh(netns: str, ip: str, key: paramiko.PKey, user: str = "ec2-user", timeout: float = 300,
        alive: Callable[[], bool] | None = None) -> Guest:
    """Log in as soon as the guest accepts SSH (retrying until ``timeout``, a backstop only).

    ``alive``: asked every 10 s; once it says the guest is gone (e.g. its instance left
    ``running``) waiting stops at once, so a slow host can be given a long backstop.
    """
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    checked = time.monotonic()
    while time.monotonic() < deadline:
        if alive is not None and time.monotonic() - checked > 10:
            checked = time.monotonic()
            if not alive():
                raise AssertionError(f"the guest at {ip} is gone before it accepted SSH: {last}")
        try:
            sock = connect_in_netns(netns, ip, 22, timeout=3)
        except OSError as e:
            last = e
            time.sleep(0.5)
            continue
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(ip, username=user, pkey=key, sock=sock, timeout=10, banner_timeout=15,
                           auth_timeout=15, look_for_keys=False, allow_agent=False)
            return Guest(client)
        except (paramiko.SSHException, OSError, EOFError) as e:
            last = e
            client.close()
            time.sleep(0.5)
    raise AssertionError(f"no SSH to {ip} in {netns} within {timeout}s: {last}")


def instance_netns(ec2d: Any, instance: dict[str, Any]) -> str:
    return f"{ec2d.config.prefix}-{instance['VpcId']}"


def wait_state(ec2: Any, instance_id: str, state: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        if inst["State"]["Name"] == state:
            return inst
        time.sleep(0.5)
    raise AssertionError(f"{instance_id} not {state} within {timeout}s (is {inst['State']['Name']})")


def published_ami(ec2: Any, name: str, timeout: float = 300) -> str:
    """The AMI ec2d publishes for a cached image named ``name`` (the runtime rescans the cache every
    few seconds), once ``available``: it is ``pending`` while its layer is imported, as on EC2."""
    deadline = time.monotonic() + timeout
    while True:
        images = ec2.describe_images(Owners=["ec2d"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
        if images:
            break
        assert time.monotonic() < deadline, f"ec2d did not register {name}"
        time.sleep(1)
    image_id = str(images[0]["ImageId"])
    ec2.get_waiter("image_available").wait(ImageIds=[image_id], WaiterConfig={"Delay": 2, "MaxAttempts": 300})
    return image_id
