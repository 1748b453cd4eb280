"""The cache in files (no REDIS_URL): Django's, counting its files once every CULL_CHECK_WRITES writes.

Django's FileBasedCache lists its whole directory before every write, to see whether MAX_ENTRIES is
reached. The dashboard keeps ~500 partials a project at a million faces, so every write paid for a listing
of a thousand files: each API request (the throttle writes its count) ~1 ms more at 1M than at 10K, and a
recompute's hundreds of writes a listing each. MAX_ENTRIES stays a bound, passed by at most
CULL_CHECK_WRITES - 1 entries a process between two counts.
"""
from django.core.cache.backends.filebased import FileBasedCache

CULL_CHECK_WRITES = 64


class FileCache(FileBasedCache):
    _writes = 0  # this process's writes (the first increment makes it the instance's)

    def _cull(self):
        self._writes += 1  # a race between threads only moves a count
        if self._writes % CULL_CHECK_WRITES == 1:  # the first write of a process counts too
            super()._cull()
