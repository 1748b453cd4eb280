"""The file cache counts its files once every CULL_CHECK_WRITES writes, and still culls past MAX_ENTRIES."""
from annotator.common import file_cache
from annotator.common.file_cache import CULL_CHECK_WRITES, FileCache


def test_writes_list_the_directory_once_every_check_and_culling_still_bounds_the_entries(tmp_path, monkeypatch):
    cache = FileCache(str(tmp_path), {"OPTIONS": {"MAX_ENTRIES": 100, "CULL_FREQUENCY": 2}})
    listings = []
    list_files = cache._list_cache_files

    def counted():
        files = list_files()
        listings.append(len(files))
        return files

    monkeypatch.setattr(cache, "_list_cache_files", counted)
    writes = 10 * CULL_CHECK_WRITES
    for i in range(writes):
        cache.set(f"key-{i}", i)
    assert len(listings) == writes // CULL_CHECK_WRITES  # Django's lists it before every write
    # Past MAX_ENTRIES a count culls, so the files never pass it by more than a check's writes.
    assert max(listings) <= 100 + CULL_CHECK_WRITES
    assert len(list_files()) <= 100 + CULL_CHECK_WRITES
    assert cache.get(f"key-{writes - 1}") == writes - 1  # what was just written reads back


def test_the_settings_use_it_without_redis():
    from annotator.config.settings import cache_settings

    assert cache_settings(None)["default"]["BACKEND"] == f"{file_cache.__name__}.FileCache"
    assert cache_settings("redis://127.0.0.1:6379/0")["default"]["BACKEND"] == "django_redis.cache.RedisCache"
