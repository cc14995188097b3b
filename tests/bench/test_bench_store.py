"""The result store: durable appends, a truncated last line, damaged files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edgebound.bench import ResultStore, StoreError, comparable, latest, read_records


def rec(key: str, **extra: object) -> dict[str, object]:
    return {"key": key, "status": "ok", "result": {"x": 1.0}, "meta": {"wall_s": 0.1}} | extra


def test_records_are_written_one_line_each(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.jsonl"
    with ResultStore(path) as store:
        store.append(rec("a"))
        # each record is on disk as soon as append returns
        assert [r["key"] for r in read_records(path)] == ["a"]
        store.append(rec("b", result={"y": float("nan"), "z": [float("-inf")]}))
    lines = path.read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[1])["result"] == {"y": "nan", "z": ["-inf"]}
    assert lines[0] == json.dumps(json.loads(lines[0]), sort_keys=True, separators=(",", ":"))


@pytest.mark.parametrize("tail", ['{"key": "c", "stat', '{"key": "c"}', "{"])
def test_a_cut_last_line_is_ignored_then_cut_off(tmp_path: Path, tail: str) -> None:
    path = tmp_path / "r.jsonl"
    with ResultStore(path) as store:
        store.append(rec("a"))
        store.append(rec("b"))
    with path.open("a") as f:
        f.write(tail)  # no newline: the process died while writing
    assert [r["key"] for r in read_records(path)] == ["a", "b"]
    assert ResultStore(path).finished_keys() == {"a", "b"}
    with ResultStore(path) as store:
        store.append(rec("c"))
    assert [r["key"] for r in read_records(path)] == ["a", "b", "c"]
    assert path.read_text().count("\n") == 3


def test_a_damaged_line_in_the_middle_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"key": "a"}\nnot json\n{"key": "b"}\n')
    with pytest.raises(StoreError, match=r"line 2: is not a result record"):
        read_records(path)
    path.write_text('{"key": "a"}\n[1, 2]\n')
    with pytest.raises(StoreError, match=r"line 2"):
        ResultStore(path).open()


def test_blank_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text('{"key": "a"}\n\n{"key": "b"}\n')
    assert [r["key"] for r in read_records(path)] == ["a", "b"]


def test_comparable_ignores_meta_and_order() -> None:
    one = [rec("b", meta={"wall_s": 1.0, "host": "x"}), rec("a")]
    two = [rec("a", meta={"wall_s": 9.0}), rec("b", meta={})]
    assert comparable(one) == comparable(two)
    assert comparable(one) != comparable([rec("a"), rec("b", result={"x": 2.0})])


def test_latest_keeps_the_last_record_of_a_key() -> None:
    out = latest([rec("a", status="error"), rec("b"), rec("a")])
    assert [(r["key"], r["status"]) for r in out] == [("a", "ok"), ("b", "ok")]


def test_unwritable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match=r"cannot be (read|written): Not a directory"):
        ResultStore(blocker / "r.jsonl").open()
