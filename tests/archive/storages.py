"""A storage backend that behaves like a full disk: it writes part of a file, then fails with ENOSPC.

(The tests run as root, where a read-only folder does not refuse writes.)"""

import errno
import os

from django.core.files.storage import FileSystemStorage


class FullDiskStorage(FileSystemStorage):
    def _save(self, name, content):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(content.read()[:100])
        raise OSError(errno.ENOSPC, "No space left on device")


class ReadOnlyStorage(FileSystemStorage):
    """A storage mounted read-only: every write fails with EROFS before a byte is written."""

    def _save(self, name, content):
        raise OSError(errno.EROFS, "Read-only file system")
