"""Owner-only permissions for everything under the data dir.

The data dir holds every user's data: ``state.db`` (key pairs' public parts, user data, tags),
``credentials.json`` (the root secret key), the EBS volumes and snapshot layers (guests' disks)
and per-instance files (console logs with whatever the guest prints). Directories are 0700 and
files 0600; snapshot/AMI layers are 0400, owner read-only, because a layer is immutable once made
(root ignores the missing write bit, but any non-root process and a careless ``qemu-img`` without
``-U`` on it are refused, and the mode shows at a glance that it is a layer). QEMU runs as root
(``scripts/setup.sh`` writes ``user = "root"``), so owner-only modes are enough for it.

``secure`` runs at every start, so a data dir made by an older ec2d (0755 dirs, 0644 files) is
fixed on open. Files are also created owner-only where they are made (SQLite under umask 077,
qemu-img children with ``umask=0o077``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("ec2d.data_dir")

DIR_MODE = 0o700
FILE_MODE = 0o600
LAYER_MODE = 0o400


def _fix(path: Path, mode: int) -> bool:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return False
    if os.path.islink(path) or st.st_mode & 0o777 == mode:
        return False
    os.chmod(path, mode)
    return True


def secure_tree(root: Path, file_mode: int = FILE_MODE, *, layer_dirs: tuple[str, ...] = ()) -> int:
    """Make ``root`` and every directory under it 0700 and every file ``file_mode`` (files in a
    directory named in ``layer_dirs`` get ``LAYER_MODE``). Symlinks are left alone (never
    followed). Returns how many modes changed."""
    changed = int(_fix(root, DIR_MODE))
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in dirnames:
            changed += _fix(here / d, DIR_MODE)
        mode = LAYER_MODE if here.name in layer_dirs else file_mode
        for f in filenames:
            changed += _fix(here / f, mode)
    return changed


def secure(data_dir: Path) -> None:
    """Create the data dir owner-only and fix the modes of what an earlier run left in it."""
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    changed = int(_fix(data_dir, DIR_MODE))
    for entry in sorted(data_dir.iterdir()):
        if entry.is_symlink():
            continue
        if entry.is_dir():
            changed += secure_tree(entry, layer_dirs=("layers",) if entry.name == "storage" else ())
        else:
            changed += _fix(entry, FILE_MODE)
    (data_dir / "instances").mkdir(mode=DIR_MODE, exist_ok=True)
    if changed:
        log.warning("made %d files and directories under %s owner-only (0700/0600)", changed, data_dir)
