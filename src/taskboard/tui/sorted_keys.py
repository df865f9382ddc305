"""A sorted list of unique keys that stays cheap to change at 100,000 keys.

One flat sorted list costs O(n) per change: inserting one key moves every key after it (~40 µs at
100,000), and merging a page of 1,000 keys re-scans the whole list (~9 ms a page, ~0.9 s over a full
board load). Here the keys live in sorted chunks of at most `CHUNK` keys, so a change moves at most
one chunk's worth, and a position is found from the chunks' sizes. The idea is sortedcontainers'
SortedList, cut down to what the board needs.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Iterator
from itertools import accumulate
from typing import Any

CHUNK = 1000


class SortedKeys:
    def __init__(self, keys: Iterable[Any] = ()) -> None:
        ordered = sorted(keys)
        self._chunks: list[list[Any]] = [ordered[i:i + CHUNK] for i in range(0, len(ordered), CHUNK)]
        self._maxes: list[Any] = [chunk[-1] for chunk in self._chunks]
        self._len = len(ordered)
        self._starts: list[int] | None = None  # where each chunk starts; rebuilt after a change

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Any]:
        for chunk in self._chunks:
            yield from chunk

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError("key index out of range")
        starts = self._positions()
        i = bisect_right(starts, index) - 1
        return self._chunks[i][index - starts[i]]

    def add(self, key: Any) -> None:
        chunks = self._chunks
        if not chunks:
            chunks.append([key])
            self._maxes.append(key)
        else:
            i = min(bisect_left(self._maxes, key), len(chunks) - 1)
            chunk = chunks[i]
            insort(chunk, key)
            self._maxes[i] = chunk[-1]
            if len(chunk) > 2 * CHUNK:
                chunks[i:i + 1] = [chunk[:CHUNK], chunk[CHUNK:]]
                self._maxes[i:i + 1] = [chunk[CHUNK - 1], chunk[-1]]
        self._len += 1
        self._starts = None

    def update(self, keys: Iterable[Any]) -> None:
        for key in keys:
            self.add(key)

    def remove(self, key: Any) -> bool:
        """Remove `key`; False when it is not here."""
        found = self._find(key)
        if found is None:
            return False
        i, j = found
        chunk = self._chunks[i]
        del chunk[j]
        if chunk:
            self._maxes[i] = chunk[-1]
        else:
            del self._chunks[i], self._maxes[i]
        self._len -= 1
        self._starts = None
        return True

    def index(self, key: Any) -> int | None:
        """The position of `key`, or None when it is not here."""
        found = self._find(key)
        if found is None:
            return None
        i, j = found
        return self._positions()[i] + j

    def _find(self, key: Any) -> tuple[int, int] | None:
        i = bisect_left(self._maxes, key)
        if i == len(self._chunks):
            return None
        chunk = self._chunks[i]
        j = bisect_left(chunk, key)
        return (i, j) if j < len(chunk) and chunk[j] == key else None

    def _positions(self) -> list[int]:
        if self._starts is None:
            self._starts = [0, *accumulate(len(chunk) for chunk in self._chunks)][:-1] if self._chunks else []
        return self._starts


__all__ = ["SortedKeys"]
