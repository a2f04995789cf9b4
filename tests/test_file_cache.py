"""`sdp_lib.config.file_cache`: a value read from a file is given again only while the file is unchanged."""

from __future__ import annotations

import os

import pytest

from sdp_lib.config import file_cache
from sdp_lib.config.outputs import atomic_write_text


@pytest.fixture(autouse=True)
def _empty_cache():
    file_cache.clear()
    yield
    file_cache.clear()


def _counting_reader(calls: list[str]):
    def reader(path):
        calls.append(path.read_text(encoding="utf-8"))
        return calls[-1]
    return reader


def test_an_unchanged_file_is_read_once(tmp_path):
    path, calls = tmp_path / "a.csv", []
    path.write_text("x\n1\n", encoding="utf-8")
    reader = _counting_reader(calls)
    assert file_cache.read("text", path, reader) == "x\n1\n"
    assert file_cache.read("text", tmp_path / "." / "a.csv", reader) == "x\n1\n"  # the same file, another spelling
    assert calls == ["x\n1\n"]
    assert file_cache.read("other kind", path, reader) == "x\n1\n"  # each kind of reader its own value
    assert len(calls) == 2


def test_a_changed_file_is_read_again(tmp_path):
    path, calls = tmp_path / "a.csv", []
    reader = _counting_reader(calls)
    path.write_text("x\n1\n", encoding="utf-8")
    file_cache.read("text", path, reader)
    atomic_write_text(path, "x\n2\n")  # replaced (a new inode), same size
    assert file_cache.read("text", path, reader) == "x\n2\n"
    before = path.stat().st_mtime_ns
    with open(path, "r+", encoding="utf-8") as fh:  # edited in place, same size: told by its modification time
        fh.write("x\n3\n")
    os.utime(path, ns=(before + 1_000_000, before + 1_000_000))
    assert file_cache.read("text", path, reader) == "x\n3\n"
    path.write_text("x\n10\n", encoding="utf-8")  # another size
    assert file_cache.read("text", path, reader) == "x\n10\n"
    assert calls == ["x\n1\n", "x\n2\n", "x\n3\n", "x\n10\n"]


def test_an_error_is_not_kept(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("x\n", encoding="utf-8")

    def failing(p):
        raise ValueError("unreadable")

    with pytest.raises(ValueError):
        file_cache.read("text", path, failing)
    assert file_cache.size() == 0
    assert file_cache.read("text", path, lambda p: "read") == "read"
    with pytest.raises(FileNotFoundError):
        file_cache.read("text", tmp_path / "missing.csv", lambda p: "never")


def test_the_least_recently_used_value_goes_first(tmp_path, monkeypatch):
    monkeypatch.setattr(file_cache, "MAX_ENTRIES", 2)
    paths = [tmp_path / f"{i}.csv" for i in range(3)]
    for p in paths:
        p.write_text(p.name, encoding="utf-8")
    calls: list[str] = []
    reader = _counting_reader(calls)
    file_cache.read("text", paths[0], reader)
    file_cache.read("text", paths[1], reader)
    file_cache.read("text", paths[0], reader)  # 0 used last: 1 goes when 2 comes
    file_cache.read("text", paths[2], reader)
    assert file_cache.size() == 2
    file_cache.read("text", paths[0], reader)
    file_cache.read("text", paths[1], reader)
    assert calls == ["0.csv", "1.csv", "2.csv", "1.csv"]
