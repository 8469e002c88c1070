"""Whether a WAL database changed, without a query: the header of its wal-index (the ``-shm`` file
every connection maps), which SQLite rewrites at each commit, by any connection of any process.

The format is SQLite's documented one for the unix VFS (https://www.sqlite.org/walformat.html,
"The WAL-Index Header"): the 48-byte ``WalIndexHdr`` twice at offset 0 (``iVersion`` 3007000 in
native byte order, ``iChange`` incremented by each transaction, ``isInit``, ``mxFrame``, the salts
and checksums), the writer updating the second copy, then the first. A commit always changes it:
it appends frames (``mxFrame`` and the running frame checksum move) or restarts the log (new
salts). Readers never write it; the checkpoint information after it (read marks, which readers do
write) is not looked at.

`Store.generations` keeps the generations it read under the header it saw *before* reading them,
so an entry is only ever older than a header that was already current when it was read: a commit
in between costs one more read, never a stale answer. Where the header cannot be read or does not
look like one (a ``:memory:`` store, another VFS, a version that changed the format), `open`
answers None and the store reads every time."""

from __future__ import annotations

import mmap
import os
import struct

HEADER_COPIES = 96  # two 48-byte WalIndexHdr
VERSION = 3007000  # WALINDEX_MAX_VERSION, the only wal-index format so far
_HEAD = struct.Struct("=IIIBB")  # iVersion, unused, iChange, isInit, bigEndCksum


class WalIndex:
    """A read-only map of a WAL database's ``-shm`` header; :meth:`header` is its current bytes."""

    def __init__(self, view: mmap.mmap) -> None:
        self._view = view

    def header(self) -> bytes:
        """Both header copies as they are now (a torn read only differs from what was seen)."""
        return self._view[:HEADER_COPIES]

    def close(self) -> None:
        self._view.close()


def open_index(db_path: str) -> WalIndex | None:
    """The wal-index of ``db_path``, which must be open in WAL mode by a connection of this
    process (so SQLite has initialized the file and keeps it while that connection lives); None
    when there is none or its header is not the known format."""
    try:
        fd = os.open(db_path + "-shm", os.O_RDONLY)
    except OSError:
        return None
    try:
        if os.fstat(fd).st_size < HEADER_COPIES:
            return None
        view = mmap.mmap(fd, HEADER_COPIES, prot=mmap.PROT_READ)
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    version, _, _, is_init, _ = _HEAD.unpack_from(view, 0)
    if version != VERSION or is_init != 1:
        view.close()
        return None
    return WalIndex(view)
