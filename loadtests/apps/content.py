"""The static files the load tests download: generated, never committed.

Every byte is a pure function of the file's name, so a locust user on any
machine can check a whole download or any range of it without a copy of
the file, and every worker (and every generation after a HUP) serves the
same ETag and Last-Modified: `ensure()` gives the files a fixed mtime, and
the server derives both validators from the mtime and the size.

Stdlib only: the app imports it in every worker, and the locust files
import it too.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import cache

#: name -> size in bytes
FILES = {
    "blob.bin": 256 * 1024,     # binary, for ranges at arbitrary offsets
    "notes.txt": 40 * 1024,     # text/plain; charset=utf-8
}
#: The mtime every generated file gets (2024-01-02 03:04:05 UTC), in seconds.
MTIME = 1704164645


@cache
def content(name: str) -> bytes:
    """The exact bytes of the file `name`."""
    size = FILES[name]
    if name.endswith(".txt"):
        lines = (f"{i:06d} zerodep-http load test, line {i} of {name}\n" for i in range(size))
        data = bytearray()
        for line in lines:
            data += line.encode()
            if len(data) >= size:
                break
        return bytes(data[:size])
    seed = name.encode()
    blocks = (hashlib.sha256(seed + i.to_bytes(8, "big")).digest()
              for i in range((size + 31) // 32))
    return b"".join(blocks)[:size]


def ensure(directory: str) -> None:
    """Write every file into `directory` unless it is already there, right.

    Safe to call from several workers at once: each file is written to a
    temporary name, given its fixed mtime, then renamed into place.
    """
    os.makedirs(directory, exist_ok=True)
    for name in FILES:
        path = os.path.join(directory, name)
        expected = content(name)
        try:
            info = os.stat(path)
            if info.st_size == len(expected) and int(info.st_mtime) == MTIME:
                with open(path, "rb") as file:
                    if file.read() == expected:
                        continue
        except OSError:
            pass
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(expected)
            os.chmod(tmp, 0o644)
            os.utime(tmp, (MTIME, MTIME))
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
