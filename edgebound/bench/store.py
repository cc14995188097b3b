"""The append-only result store: one JSON line per finished run.

Each record is written, flushed and synced to disk as soon as its run finishes, so a sweep
that is interrupted, even killed, loses at most the runs that were in progress. A kill can
leave a partly written last line; reading skips it, and reopening the store to resume cuts
it off before appending. A damaged line anywhere else is an error.

A record holds the run's identity (``key``, ``instance``, ``instance_hash``, ``method``,
``params``, ``seed``), its outcome (``status``: ``ok`` or ``error``; ``result`` or
``error``) and ``meta`` (wall time, backend, host, process, finish time, edgebound version).
Everything but ``meta`` is the same on every machine and backend:
:func:`comparable` drops ``meta`` and sorts by key, so result files of two backends compare
equal.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
>>> with ResultStore(path) as store:
...     store.append({"key": "b", "status": "ok", "result": {"x": 1.5}, "meta": {"wall_s": 2}})
...     store.append({"key": "a", "status": "ok", "result": {"x": 2.0}, "meta": {"wall_s": 1}})
>>> with path.open("a") as f:
...     _ = f.write('{"key": "c", "sta')   # a kill mid-write
>>> [r["key"] for r in read_records(path)]
['b', 'a']
>>> comparable(read_records(path))[0]
{'key': 'a', 'result': {'x': 2.0}, 'status': 'ok'}
>>> sorted(ResultStore(path).finished_keys())
['a', 'b']
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from edgebound.errors import EdgeboundError

__all__ = [
    "ResultStore",
    "StoreError",
    "comparable",
    "dumps_record",
    "jsonable",
    "latest",
    "read_records",
]


class StoreError(EdgeboundError):
    """A result file cannot be read, written or resumed."""


def jsonable(x: Any) -> Any:
    """Strict JSON data: numpy values plain, non-finite floats as ``"nan"``/``"inf"``/``"-inf"``.

    Examples
    --------
    >>> import numpy as np
    >>> jsonable({"a": np.float64(1.5), "b": [np.inf, (1, 2)]})
    {'a': 1.5, 'b': ['inf', [1, 2]]}
    """
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "tolist"):
        return jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    return str(x)


def dumps_record(record: Mapping[str, Any]) -> str:
    """One record as one line of canonical JSON (sorted keys, no spaces, no newline).

    Examples
    --------
    >>> dumps_record({"b": 1, "a": [1.0, float("nan")]})
    '{"a":[1.0,"nan"],"b":1}'
    """
    return json.dumps(jsonable(record), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _parse(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Records of a file and the byte length of its complete lines."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    except OSError as exc:
        raise StoreError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    records: list[dict[str, Any]] = []
    end = 0
    lines = data.split(b"\n")
    for number, line in enumerate(lines, start=1):
        last = number == len(lines)
        if not line.strip():
            end += len(line) + (0 if last else 1)
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "key" not in record:
                raise ValueError("not a record")
        except ValueError:
            if last:  # a line cut short by a kill: the run counts as not finished
                break
            raise StoreError(
                f"{path}, line {number}: is not a result record (JSON with a 'key'); the file "
                "is damaged or not a result file; move it away or pass another output"
            ) from None
        if last:  # complete JSON but no newline: the kill came between the two writes
            break
        records.append(record)
        end += len(line) + 1
    return records, end


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Every complete record of a result file, in file order (a missing file has none).

    A record for a key that appears more than once (two stores written to the same file at
    once) is returned each time; :func:`latest` keeps the last.

    Raises
    ------
    StoreError
        If a line other than the last is not a record.

    Examples
    --------
    >>> read_records("no-such-results.jsonl")
    []
    """
    return _parse(Path(path))[0]


def latest(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The last record of each key, in order of first appearance.

    Examples
    --------
    >>> [r["v"] for r in latest([{"key": "a", "v": 1}, {"key": "b", "v": 2},
    ...                          {"key": "a", "v": 3}])]
    [3, 2]
    """
    out: dict[str, dict[str, Any]] = {}
    for r in records:
        out[str(r["key"])] = dict(r)
    return list(out.values())


def comparable(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Records without ``meta`` (timings, host, backend), sorted by key.

    Two result files of the same experiment, from any backend and worker count, give equal
    lists.

    Examples
    --------
    >>> comparable([{"key": "b", "meta": {"wall_s": 1}}, {"key": "a", "meta": {}}])
    [{'key': 'a'}, {'key': 'b'}]
    """
    out = [{k: v for k, v in r.items() if k != "meta"} for r in records]
    return sorted(out, key=lambda r: str(r["key"]))


class ResultStore:
    """An append-only JSON-lines file of run records.

    Parameters
    ----------
    path : str or Path
        The result file; created (with its directory) on first append.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> store = ResultStore(pathlib.Path(tempfile.mkdtemp()) / "r.jsonl")
    >>> store.finished_keys()
    set()
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[bytes] | None = None

    def finished_keys(self) -> set[str]:
        """Keys of the runs recorded in the file.

        Examples
        --------
        >>> ResultStore("no-such-results.jsonl").finished_keys()
        set()
        """
        return {str(r["key"]) for r in read_records(self.path)}

    def open(self) -> ResultStore:
        """Open for appending; a partly written last line (from a kill) is cut off first.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
        >>> _ = p.write_text('{"key": "a"}\\n{"key": "b", "st')
        >>> with ResultStore(p) as store:
        ...     store.append({"key": "c"})
        >>> p.read_text().splitlines()
        ['{"key": "a"}', '{"key":"c"}']
        """
        if self._file is not None:
            return self
        _, end = _parse(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
            if self._file.tell() > end:
                self._file.truncate(end)
                self._file.seek(end)
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot be written: {exc.strerror or exc}") from None
        return self

    def append(self, record: Mapping[str, Any]) -> None:
        """Write one record as a line, flush it and sync it to disk.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
        >>> with ResultStore(p) as store:
        ...     store.append({"key": "a", "result": {"x": float("inf")}})
        >>> p.read_text()
        '{"key":"a","result":{"x":"inf"}}\\n'
        """
        self.open()
        assert self._file is not None
        line = (dumps_record(record) + "\n").encode("utf-8")
        try:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot be written: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Close the file (appending again reopens it)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> ResultStore:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
