"""Writing tf.Examples: deterministic encoding of record batches and the stock hash split.

The split rule is the stock ``_PartitionFn``'s (SHA-256 of the serialized example modulo the
total bucket count), the files are the stock gzipped TFRecords (``data_tfrecord-00000-of-00001.gz``
per split, or one per DirectRunner worker process when the run fans out: ``shard_count``), so
every downstream component reads them unchanged.
"""
from __future__ import annotations

import bisect
import hashlib
import itertools
import os
from typing import Dict, Iterator, List, Optional, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from tfx.components.example_gen import write_split
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2
from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder

from components.lib.csv_read import TypeGuessFailed, guess_column_types, record_batches

def shard_file(shard: int, shards: int) -> str:
    """The stock WriteSplit's file names, so readers that glob "*" or "*.gz" see the same."""
    return f"{write_split.DEFAULT_FILE_NAME}-{shard:05d}-of-{shards:05d}.gz"


def shard_count(beam_args: List[str]) -> int:
    """One shard per DirectRunner worker process the component was given, else one: a file is
    read by one worker, so the components downstream can split the work only by files."""
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions

    options = PipelineOptions(beam_args).view_as(DirectOptions)
    if options.direct_running_mode == "multi_processing" and options.direct_num_workers > 1:
        return options.direct_num_workers
    return 1


def bucket_bounds(output_config: example_gen_pb2.Output) -> List[int]:
    """Cumulative hash buckets per output split, as the stock executor computes them."""
    bounds, total = [], 0
    for split in output_config.split_config.splits:
        total += split.hash_buckets
        bounds.append(total)
    return bounds


def split_index(serialized: bytes, bounds: List[int]) -> int:
    """The stock ``_PartitionFn`` rule on the serialized example (no partition feature)."""
    bucket = int.from_bytes(hashlib.sha256(serialized).digest(), "big") % bounds[-1]
    return bisect.bisect(bounds, bucket)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _strip_outer(example: bytes) -> bytes:
    """The ``Features.feature`` map entry of a one-feature Example (drops two headers)."""
    start = 1
    while example[start] & 0x80:
        start += 1
    return example[start + 1:]


def _entry_table(column: pa.ListArray, name: str) -> Tuple[List[bytes], np.ndarray]:
    """Each distinct cell's serialized map entry, and each row's index into that table.

    CSV cells hold at most one value and columns repeat values a lot, so encoding the
    distinct values once (with tfx_bsl, so the wire format is the encoder's) and gathering
    bytes with numpy costs far less than one Python object per cell. The last table entry
    is the missing value's (an empty Feature, as stock CsvExampleGen writes for a blank).
    """
    valid = np.asarray(column.is_valid(), dtype=bool)
    values = column.flatten()
    encoded = pc.dictionary_encode(values)
    distinct = encoded.dictionary
    lists = pa.ListArray.from_arrays(pa.array(np.arange(len(distinct) + 1, dtype=np.int32)),
                                     distinct)
    nulls = pa.array([None], type=lists.type)
    table = RecordBatchToExamplesEncoder().encode(
        pa.RecordBatch.from_arrays([pa.concat_arrays([lists, nulls])], [name]))
    index = np.full(len(column), len(distinct), dtype=np.int64)
    index[valid] = np.asarray(encoded.indices, dtype=np.int64)
    return [_strip_outer(e) for e in table], index


def encode_deterministic(batch: pa.RecordBatch) -> List[bytes]:
    """Serialized tf.Examples with map entries in key order: ``SerializeToString(deterministic=True)``.

    tfx_bsl's encoder writes the feature map in hash order, which changes from process to
    process, so hashing its bytes would split the same data differently on every run. Stock
    TFX hashes the deterministic serialization: an Example header, then the map entries
    sorted by key. Each row is joined here from its cells' entries in key order.
    """
    if batch.num_rows == 0:
        return []
    columns, inner = [], np.zeros(batch.num_rows, dtype=np.int64)
    for name in sorted(batch.schema.names):
        table, index = _entry_table(batch.column(batch.schema.get_field_index(name)), name)
        inner += np.fromiter(map(len, table), dtype=np.int64, count=len(table))[index]
        columns.append(list(map(table.__getitem__, index.tolist())))
    # The Example header (field 1, length-delimited) differs only by the inner size.
    sizes, which = np.unique(inner, return_inverse=True)
    headers = [b"\n" + _varint(int(n)) for n in sizes]
    return list(map(b"".join, zip(map(headers.__getitem__, which.tolist()), *columns)))


# zlib level 1: about 3x faster to write than TF's default level 6 for ~20% larger files;
# still plain gzip, so every TFRecord reader opens it unchanged.
_GZIP_LEVEL = 1


def write_splits(files: List[str], split_dirs: List[str],
                 bounds: Optional[List[int]] = None, shards: int = 1) -> List[int]:
    """Reads ``files`` batch by batch and writes each example to its split's gzipped TFRecord.

    With ``bounds`` the examples are hash-split over ``split_dirs``; without, everything goes
    to the single ``split_dirs[0]``. Each split gets ``shards`` files, filled a record batch
    at a time in turn. Memory stays at one record batch. Returns rows per split.
    Each file is read once with types guessed from its first block; if a later block
    disproves the guess, everything is written again with whole-file type inference.
    """
    guesses = [guess_column_types(path) for path in files]
    if all(g is not None for g in guesses):
        try:
            return _write_splits(files, guesses, split_dirs, bounds, shards)
        except TypeGuessFailed:
            pass
    return _write_splits(files, [None] * len(files), split_dirs, bounds, shards)


def _write_splits(files: List[str], types: List[Optional[Dict[str, pa.DataType]]],
                  split_dirs: List[str], bounds: Optional[List[int]], shards: int) -> List[int]:
    import tensorflow as tf  # only the executor needs TF; the readers above stay light

    options = tf.io.TFRecordOptions(compression_type="GZIP", compression_level=_GZIP_LEVEL)
    counts = [0] * len(split_dirs)
    writers = []  # [shard][split]
    try:
        for directory in split_dirs:
            fileio.makedirs(directory)
        for shard in range(shards):
            writers.append([tf.io.TFRecordWriter(
                os.path.join(directory, shard_file(shard, shards)), options)
                for directory in split_dirs])
        # The per-row loop is the hot spot: bind everything it calls (the C++ write skips
        # TFRecordWriter's Python wrapper) and inline ``split_index``.
        shard_writes = [[super(tf.io.TFRecordWriter, w).write for w in ws] for ws in writers]
        sha256, from_bytes, place = hashlib.sha256, int.from_bytes, bisect.bisect
        total = bounds[-1] if bounds else 1
        rotation = itertools.cycle(shard_writes)  # each record batch to the next shard
        for path, guessed in zip(files, types):
            for batch in record_batches(path, guessed):
                examples = encode_deterministic(batch)
                writes = next(rotation)
                if bounds is None:
                    for serialized in examples:
                        writes[0](serialized)
                    counts[0] += len(examples)
                    continue
                for serialized in examples:
                    index = place(bounds, from_bytes(sha256(serialized).digest(), "big") % total)
                    writes[index](serialized)
                    counts[index] += 1
    finally:
        for writer in (w for ws in writers for w in ws):
            writer.close()
    return counts


def read_csv_as_examples(path: str) -> Iterator[bytes]:
    """Serialized tf.Examples, one per CSV row."""
    for batch in record_batches(path):
        yield from encode_deterministic(batch)
