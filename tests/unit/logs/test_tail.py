from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest

from supervisor_runtime.logs.tail import read_file, tail_file
from tests.stock import stock_python

CONTENT = b"".join(b"line %03d\n" % i for i in range(30))  # 270 bytes, ASCII
OFFSETS = [-1000, -271, -270, -269, -10, -1, 0, 1, 10, 100, 260, 269, 270, 271, 1000]
LENGTHS = [-5, -1, 0, 1, 9, 10, 100, 269, 270, 271, 5000]


def test_read_file_examples(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(CONTENT)
    assert read_file(str(path), 0, 0) == CONTENT
    assert read_file(str(path), 0, 9) == b"line 000\n"
    assert read_file(str(path), 9, 9) == b"line 001\n"
    assert read_file(str(path), -9, 0) == b"line 029\n"
    assert read_file(str(path), -10_000, 0) == CONTENT
    assert read_file(str(path), 10_000, 0) == b""
    with pytest.raises(ValueError, match="^BAD_ARGUMENTS$"):
        read_file(str(path), -9, 5)
    with pytest.raises(ValueError, match="^BAD_ARGUMENTS$"):
        read_file(str(path), 0, -1)
    with pytest.raises(ValueError, match="^FAILED$"):
        read_file(str(tmp_path / "missing"), 0, 0)
    # A missing file is FAILED even with bad arguments: the open comes first.
    with pytest.raises(ValueError, match="^FAILED$"):
        read_file(str(tmp_path / "missing"), -1, 1)
    with pytest.raises(ValueError, match="^FAILED$"):
        read_file(str(tmp_path), 0, 0)


def test_tail_file_follows_growth(tmp_path: Path) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"hello\n")
    data, offset, overflow = tail_file(str(path), 0, 1024)
    assert (data, offset, overflow) == (b"hello\n", 6, False)
    with open(path, "ab") as f:
        f.write(b"world\n")
    # As stock: the answer is the last `length` bytes of the file, not the bytes after
    # `offset`; the offset only decides overflow and "nothing new".
    assert tail_file(str(path), offset, 1024) == (b"hello\nworld\n", 12, False)
    assert tail_file(str(path), offset, 6) == (b"world\n", 12, False)
    assert tail_file(str(path), 12, 1024) == (b"", 12, False)
    # The reader fell behind by more than it asked for: overflow, last bytes only.
    assert tail_file(str(path), 0, 4) == (b"rld\n", 12, True)
    assert tail_file(str(tmp_path / "missing"), 7, 10) == (b"", 7, False)


def _our_read(path: str, offset: int, length: int) -> list[object]:
    try:
        return ["ok", read_file(path, offset, length).decode()]
    except ValueError as exc:
        return ["error", exc.args[0]]


def _our_tail(path: str, offset: int, length: int) -> list[object]:
    data, new_offset, overflow = tail_file(path, offset, length)
    return [data.decode(), new_offset, overflow]


STOCK_SCRIPT = """
import json, sys
from supervisor.options import readFile, tailFile
cases = json.load(sys.stdin)
out = []
for path, offset, length in cases:
    try:
        r = ["ok", readFile(path, offset, length).decode()]
    except ValueError as exc:
        r = ["error", exc.args[0]]
    out.append([r, list(tailFile(path, offset, length))])
print(json.dumps(out))
"""


@pytest.mark.stock
def test_read_and_tail_match_stock(tmp_path: Path) -> None:
    full = tmp_path / "full.log"
    full.write_bytes(CONTENT)
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    paths = [str(full), str(empty), str(tmp_path / "missing.log"), str(tmp_path)]
    cases = [list(c) for c in itertools.product(paths, OFFSETS, LENGTHS)]
    result = subprocess.run(
        [str(stock_python()), "-c", STOCK_SCRIPT],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    theirs = json.loads(result.stdout)
    mismatches = []
    for (path, offset, length), (stock_read, stock_tail) in zip(cases, theirs, strict=True):
        ours = [_our_read(path, offset, length), _our_tail(path, offset, length)]
        if ours != [stock_read, stock_tail]:
            mismatches.append((Path(path).name, offset, length, ours, [stock_read, stock_tail]))
    assert mismatches == []
