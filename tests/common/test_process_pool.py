"""process_map, the one process pool: order, worker initializer, workers with or without Django."""
import os

from django.apps import apps

from annotator.common.process_pool import process_map

_mark = None  # set by the initializer, in each process that runs _tagged


def _set_mark(value):
    global _mark
    _mark = value


def _tagged(item):
    return item, _mark, os.getpid(), apps.ready


def test_unordered_workers_without_django_run_the_initializer_once_each():
    results = list(process_map(_tagged, range(40), workers=2, chunk_size=3, ordered=False,
                               initializer=_set_mark, initargs=("models loaded",), with_django=False))
    assert sorted(item for item, *_ in results) == list(range(40))
    assert {mark for _, mark, _, _ in results} == {"models loaded"}
    assert os.getpid() not in {pid for *_, pid, _ in results}
    assert {ready for *_, ready in results} == {False}  # no django.setup() in these workers


def test_ordered_workers_have_django_and_one_process_runs_the_initializer_here():
    results = list(process_map(_tagged, range(40), workers=2, chunk_size=3, initializer=_set_mark,
                               initargs=("in workers",)))
    assert [item for item, *_ in results] == list(range(40))
    assert {mark for _, mark, _, _ in results} == {"in workers"} and {r[3] for r in results} == {True}
    assert _mark is None  # this process ran nothing
    here = list(process_map(_tagged, range(5), workers=1, chunk_size=3, initializer=_set_mark, initargs=("here",)))
    assert [(item, mark, pid) for item, mark, pid, _ in here] == [(i, "here", os.getpid()) for i in range(5)]
