"""Reading CSV files with pyarrow: ``NA`` and empty fields as missing, column types inferred.

Column types are inferred over the whole file in a first streaming pass (int, then
float, then string, widening only), so a column that happens to be empty in the first
block still gets the type its later values need. ``guess_column_types`` is the fast path:
a guess from the first block that ``record_batches`` checks as it reads.
"""
from __future__ import annotations

import codecs
import csv
import io
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv
from tfx.dsl.io import fileio

from components.lib import s3_filesystem  # noqa: F401  (fileio for s3:// and minio:// data roots)

NULL_VALUES = ["", "NA"]
_BLOCK_SIZE = 1 << 22  # 4 MiB of CSV per record batch: bounded memory, few Python calls.


class CsvDataError(ValueError):
    """A CSV file cannot be turned into examples; the message names the file and column."""


def _header(path: str) -> List[str]:
    with fileio.open(path, "rb") as f:
        first = f.readline()
    if not first.strip():
        raise CsvDataError(f"{path}: file is empty (no header line)")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CsvDataError(f"{path}: header is not UTF-8 ({e.reason} at byte {e.start})") from e
    names = next(csv.reader(io.StringIO(text)))
    names = [n.strip() for n in names]
    if any(not n for n in names):
        raise CsvDataError(f"{path}: header has an empty column name")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise CsvDataError(f"{path}: header repeats column(s) {', '.join(dupes)}")
    return names


def _reader(path: str, names: List[str], types: Dict[str, pa.DataType]) -> pacsv.CSVStreamingReader:
    read = pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=_BLOCK_SIZE)
    parse = pacsv.ParseOptions(newlines_in_values=True)
    convert = pacsv.ConvertOptions(
        column_types=types, null_values=NULL_VALUES, strings_can_be_null=True,
        quoted_strings_can_be_null=False)
    return pacsv.open_csv(_source(path), read_options=read, parse_options=parse,
                          convert_options=convert)


def _source(path: str) -> Any:
    """Local files go to Arrow's native reader; remote ones (gs://, s3://) through TFX's fileio."""
    return pa.PythonFile(fileio.open(path, "rb"), mode="r") if "://" in path else path


def _first_non_utf8(path: str) -> Optional[Tuple[int, int, str]]:
    """(byte offset, line number, reason) of the first byte that is not UTF-8, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 1
    with fileio.open(path, "rb") as f:
        while True:
            block = f.read(_BLOCK_SIZE)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as e:
                # e.start counts from the undecoded tail the decoder kept plus this block.
                tail = len(decoder.getstate()[0])
                bad = offset - tail + e.start
                return bad, lines + block[:max(e.start - tail, 0)].count(b"\n"), e.reason
            if not block:
                return None
            offset += len(block)
            lines += block.count(b"\n")


def _read_error(path: str, error: pa.ArrowInvalid) -> CsvDataError:
    """Arrow's parse error as one line naming the file, with the byte for bad encodings."""
    message = str(error).strip().splitlines()[0]
    if "UTF8" in message:
        found = _first_non_utf8(path)
        if found:
            offset, line, reason = found
            return CsvDataError(f"{path}: not UTF-8 at byte {offset} (line {line}): {reason}; "
                                "save the file as UTF-8")
    return CsvDataError(f"{path}: {message}")


def _check_not_header(path: str, names: List[str], batch: pa.RecordBatch, before: int) -> None:
    """A data row equal to the header is a second header (files concatenated with theirs)."""
    same = None
    for name, column in zip(names, batch.columns):
        equal = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), name), False)
        same = equal if same is None else pc.and_(same, equal)
    hits = np.flatnonzero(np.asarray(same)) if same is not None else []
    if len(hits):
        raise CsvDataError(f"{path}: data row {before + int(hits[0]) + 1} repeats the header line")


_WIDENING = (pa.int64(), pa.float64(), pa.string())


def _widen(current: pa.DataType, column: pa.Array) -> pa.DataType:
    """The narrowest of int64 < float64 < string that holds every value seen so far."""
    present = column.drop_null()
    for candidate in _WIDENING[_WIDENING.index(current):]:
        if candidate == pa.string():
            return candidate
        try:
            present.cast(candidate)
            return candidate
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return pa.string()


def infer_column_types(path: str) -> Dict[str, pa.DataType]:
    """Streams the file once with every column as text and returns each column's type."""
    names = _header(path)
    types: Dict[str, pa.DataType] = {n: pa.int64() for n in names}
    seen = {n: False for n in names}
    rows = 0
    try:
        for batch in _reader(path, names, {n: pa.string() for n in names}):
            _check_not_header(path, names, batch, rows)
            rows += batch.num_rows
            for name, column in zip(names, batch.columns):
                if column.null_count < len(column):
                    seen[name] = True
                    types[name] = _widen(types[name], column)
    except pa.ArrowInvalid as e:
        raise _read_error(path, e) from e
    if rows == 0:
        raise CsvDataError(f"{path}: has a header but no data rows")
    # A column with no value at all carries no type evidence; keep it as text, as stock does.
    return {n: (types[n] if seen[n] else pa.string()) for n in names}


def as_list_array(column: pa.Array) -> pa.ListArray:
    """One value per row becomes a one-element list; a missing value becomes a null list."""
    if pa.types.is_floating(column.type):
        column = column.cast(pa.float32())
    elif pa.types.is_string(column.type) or pa.types.is_null(column.type):
        column = column.cast(pa.binary())
    valid = np.asarray(column.is_valid(), dtype=bool)
    offsets = np.concatenate([[0], np.cumsum(valid)]).astype(np.int32)
    mask = np.concatenate([~valid, [False]])
    return pa.ListArray.from_arrays(pa.array(offsets, mask=mask), column.drop_null())


_GUESS_BLOCK_SIZE = 1 << 20  # the sample the fast path guesses column types from


def guess_column_types(path: str) -> Optional[Dict[str, pa.DataType]]:
    """Column types from the first block alone, or None when that block cannot tell.

    A guess is only a shortcut: reading the file with it fails as soon as a later value
    does not fit (a float in an int column, text in a number column), and then the caller
    falls back to ``infer_column_types`` over the whole file. Widening is monotonic, so a
    guess that reads the whole file without error equals the whole-file inference, except
    for a column with no value in the sample, hence None for those.
    """
    names = _header(path)
    read = pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=_GUESS_BLOCK_SIZE)
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names}, null_values=NULL_VALUES,
        strings_can_be_null=True, quoted_strings_can_be_null=False)
    try:
        reader = pacsv.open_csv(_source(path), read_options=read, convert_options=convert,
                                parse_options=pacsv.ParseOptions(newlines_in_values=True))
        batch = reader.read_next_batch()
    except (pa.ArrowInvalid, StopIteration):
        return None  # the whole-file pass reports the problem properly
    if batch.num_rows == 0 or any(c.null_count == len(c) for c in batch.columns):
        return None
    return {n: _widen(pa.int64(), c) for n, c in zip(names, batch.columns)}


class TypeGuessFailed(Exception):
    """A later block does not fit the guessed types; read again with whole-file inference."""


def record_batches(path: str, guessed: Optional[Dict[str, pa.DataType]] = None
                   ) -> Iterator[pa.RecordBatch]:
    """Yields the file as record batches of list columns, ready for the Example encoder.

    With ``guessed`` types (see ``guess_column_types``) the file is read once instead of
    twice; any read error then raises ``TypeGuessFailed`` for the caller to start over.
    """
    if guessed is not None:
        names = list(guessed)
        all_text = all(t == pa.string() for t in guessed.values())
        rows = 0
        try:
            for batch in _reader(path, names, guessed):
                if all_text:  # a repeated header only fails conversion in a numeric column
                    _check_not_header(path, names, batch, rows)
                rows += batch.num_rows
                yield pa.RecordBatch.from_arrays([as_list_array(c) for c in batch.columns],
                                                 names)
        except pa.ArrowInvalid as e:
            raise TypeGuessFailed(str(e)) from e
        return
    types = infer_column_types(path)
    names = list(types)
    try:
        for batch in _reader(path, names, types):
            yield pa.RecordBatch.from_arrays([as_list_array(c) for c in batch.columns], names)
    except pa.ArrowInvalid as e:
        raise _read_error(path, e) from e


def matching_files(input_base: str, split_pattern: str) -> List[str]:
    pattern = os.path.join(input_base, split_pattern)
    files = sorted(fileio.glob(pattern))
    if not files:
        raise CsvDataError(f"{pattern}: no CSV file matches")
    return files
