"""guests.start_command runs one command at a time per connection: a channel opens only once the
command started before it on the same connection has reported its exit status. The guests' dropbear
(2022.83) drops the whole connection when a channel opens while it is still reaping the previous
command (reading that command's stdout to EOF is not enough); see start_command. No guest here:
a fake client records what the previous command's state was when the next one was asked for."""

from __future__ import annotations

import threading
import time
from typing import Any

from guests import start_command


class FakeChannel:
    def __init__(self) -> None:
        self.status_event = threading.Event()  # paramiko sets it on exit-status (or channel close)

    def exit_status_ready(self) -> bool:
        return self.status_event.is_set()


class FakeFile:
    def __init__(self, channel: FakeChannel) -> None:
        self.channel = channel


class FakeTransport:
    def is_active(self) -> bool:
        return True


class FakeClient:
    def __init__(self) -> None:
        self.transport = FakeTransport()
        self.channels: list[FakeChannel] = []
        self.previous_done: list[bool] = []  # per exec: had every earlier command exited?

    def get_transport(self) -> FakeTransport:
        return self.transport

    def exec_command(self, command: str, timeout: float | None = None) -> tuple[None, FakeFile, FakeFile]:
        self.previous_done.append(all(c.exit_status_ready() for c in self.channels))
        chan = FakeChannel()
        self.channels.append(chan)
        return None, FakeFile(chan), FakeFile(chan)


def test_the_next_command_waits_for_the_exit_status_of_the_previous_one() -> None:
    client: Any = FakeClient()
    out, _ = start_command(client, "cat /run/ec2d-tiny/instance-id")
    # its output was read to EOF; the exit status comes a little later, from another thread
    exited = threading.Timer(0.3, out.channel.status_event.set)
    exited.start()
    try:
        start_command(client, "nc -w 5 198.18.0.1 22")
    finally:
        exited.cancel()
    assert client.previous_done == [True, True]


def test_a_command_that_never_exits_holds_the_next_one_only_for_wait_seconds() -> None:
    client: Any = FakeClient()
    start_command(client, "sleep 1000")
    started = time.monotonic()
    start_command(client, "true", wait=0.5)
    assert 0.4 < time.monotonic() - started < 5
    assert client.previous_done == [True, False]
