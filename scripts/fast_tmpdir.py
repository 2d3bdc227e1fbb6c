"""Print where the test suites should keep their temporary files: RAM when the machine has room.

The suites create and delete tens of thousands of small files (5,000-session listings, state
directories, plugin installs). On a disk filesystem that is mostly kernel time: the 5,000-session
tests took 30 s of CPU with their files on this machine's ext4 and 8 s on tmpfs. So the Makefile
points TMPDIR at a private directory in Linux's /dev/shm when /dev/shm is writable and has at
least MIN_FREE bytes free (a container's default /dev/shm is 64 MB: too small); otherwise (macOS
has no /dev/shm) it prints the system's temporary directory, as Python finds it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile

CANDIDATES = ("/dev/shm",)  # noqa: S108 - a private per-user directory inside, checked below
MIN_FREE = 4 << 30  # a full run's temporary files peak well under this


def choose(candidates: tuple[str, ...] = CANDIDATES, min_free: int = MIN_FREE) -> str | None:
    """`edgeagent-<uid>` (created 0700) in the first candidate that is a writable directory with
    `min_free` bytes free; None when none is, or when that name is not this user's directory."""
    for base in candidates:
        if not (os.path.isdir(base) and os.access(base, os.W_OK | os.X_OK)):
            continue
        if shutil.disk_usage(base).free < min_free:
            continue
        mine = os.path.join(base, f"edgeagent-{os.getuid()}")
        with contextlib.suppress(FileExistsError):
            os.mkdir(mine, 0o700)
        found = os.lstat(mine)  # not followed: another user's symlink or directory is refused
        if stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid():
            os.chmod(mine, 0o700)
            return mine
    return None


if __name__ == "__main__":
    print(choose() or tempfile.gettempdir())
    sys.exit(0)
