"""A fast CSV ExampleGen executor: pyarrow reads the CSV, tfx_bsl encodes tf.Examples.

It plugs into the stock ``FileBasedExampleGen`` (spans, versions, hash splits and the
output artifact stay TFX's own); only the CSV-to-Example step is replaced. Compared with
stock CsvExampleGen it:

* reads ``NA`` (and empty fields) as missing values, so a numeric column with ``NA`` stays
  numeric instead of turning into a string column;
* decodes whole column blocks at once instead of one line at a time;
* hashes, splits and writes the examples itself (``write_splits``) instead of handing one
  Beam element per row to the stock partition and WriteSplit: per-element overhead on the
  DirectRunner capped ingestion at a few thousand rows/s. The split rule is the stock
  ``_PartitionFn``'s (SHA-256 of the serialized example modulo the total bucket count), the
  files are the stock gzipped TFRecords (``data_tfrecord-00000-of-00001.gz`` per split, or one
  per DirectRunner worker process when the run fans out: ``shard_count``), so
  every downstream component reads them unchanged.

Column types are inferred over the whole file in a first streaming pass (int, then
float, then string, widening only), so a column that happens to be empty in the first
block still gets the type its later values need.
"""
from __future__ import annotations

import bisect
import codecs
import csv
import hashlib
import itertools
import io
import os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pacsv
from tfx import types
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen import write_split
from tfx.components.util import examples_utils
from tfx.components.example_gen.base_example_gen_executor import BaseExampleGenExecutor
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2, range_config_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils
from tfx_bsl.coders.example_coder import RecordBatchToExamplesEncoder

from components import s3_filesystem  # noqa: F401  (fileio for s3:// and minio:// data roots)

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


def _as_list_array(column: pa.Array) -> pa.ListArray:
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
                yield pa.RecordBatch.from_arrays([_as_list_array(c) for c in batch.columns],
                                                 names)
        except pa.ArrowInvalid as e:
            raise TypeGuessFailed(str(e)) from e
        return
    types = infer_column_types(path)
    names = list(types)
    try:
        for batch in _reader(path, names, types):
            yield pa.RecordBatch.from_arrays([_as_list_array(c) for c in batch.columns], names)
    except pa.ArrowInvalid as e:
        raise _read_error(path, e) from e


def read_csv_as_examples(path: str) -> Iterator[bytes]:
    """Serialized tf.Examples, one per CSV row."""
    for batch in record_batches(path):
        yield from encode_deterministic(batch)


def matching_files(input_base: str, split_pattern: str) -> List[str]:
    pattern = os.path.join(input_base, split_pattern)
    files = sorted(fileio.glob(pattern))
    if not files:
        raise CsvDataError(f"{pattern}: no CSV file matches")
    return files


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _CsvToSerializedExamples(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],
                             split_pattern: str) -> beam.pvalue.PCollection:
    files = matching_files(exec_properties["input_base"], split_pattern)
    return (pipeline
            | "ListFiles" >> beam.Create(files)
            | "ReadAndEncode" >> beam.FlatMap(read_csv_as_examples))


def resolve_span_without_driver(exec_properties: Dict[str, Any],
                                examples: List[types.Artifact]) -> Dict[str, Any]:
    """Resolves ``{SPAN}`` in the input patterns when no driver did it.

    Locally, TFX's ExampleGen driver resolves the span and fingerprints the input before the
    executor runs. On open-source Kubeflow the driver rides on ``lifecycle.preCacheCheck``,
    which the backend ignores, so the executor does the same work itself: the range config's
    span, or the latest span when there is none.
    """
    input_config = example_gen_pb2.Input()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY], input_config)
    if not any("{SPAN}" in split.pattern for split in input_config.splits):
        return exec_properties
    range_config = None
    if exec_properties.get(standard_component_specs.RANGE_CONFIG_KEY):
        range_config = range_config_pb2.RangeConfig()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.RANGE_CONFIG_KEY],
                                  range_config)
    input_base = exec_properties[standard_component_specs.INPUT_BASE_KEY]
    try:
        fingerprint, span, version = example_gen_utils.calculate_splits_fingerprint_span_and_version(
            input_base, input_config.splits, range_config)
    except ValueError as e:
        raise CsvDataError(f"{input_base}: {str(e).splitlines()[0]}") from None
    for artifact in examples:
        artifact.span = span
        artifact.set_string_custom_property(example_gen_utils.FINGERPRINT_PROPERTY_NAME, fingerprint)
        if version is not None:
            artifact.version = version
    return {**exec_properties, standard_component_specs.INPUT_CONFIG_KEY:
            proto_utils.proto_to_json(input_config)}


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


class Executor(BaseExampleGenExecutor):
    """FileBasedExampleGen executor for CSV files, reading ``NA`` as missing."""

    def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
        return _CsvToSerializedExamples

    def input_files(self, exec_properties: Dict[str, Any], split_pattern: str) -> List[str]:
        """The CSV files behind one input split (the span window executor widens this)."""
        return matching_files(exec_properties[standard_component_specs.INPUT_BASE_KEY],
                              split_pattern)

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]], exec_properties: Dict[str, Any]) -> None:
        examples = output_dict[standard_component_specs.EXAMPLES_KEY]
        exec_properties = resolve_span_without_driver(exec_properties, examples)
        self._log_startup(input_dict, output_dict, exec_properties)
        input_config = example_gen_pb2.Input()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                                  input_config)
        output_config = example_gen_pb2.Output()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
                                  output_config)
        names = example_gen_utils.generate_output_split_names(input_config, output_config)
        artifact_utils.get_single_instance(examples).split_names = (
            artifact_utils.encode_split_names(names))
        dirs = [artifact_utils.get_split_uri(examples, name) for name in names]
        shards = shard_count(self._beam_pipeline_args)
        if output_config.split_config.splits:  # one input split, hash-split into the outputs
            write_splits(self.input_files(exec_properties, input_config.splits[0].pattern),
                         dirs, bucket_bounds(output_config), shards)
        else:  # input splits map one to one onto output splits
            for split, directory in zip(input_config.splits, dirs):
                write_splits(self.input_files(exec_properties, split.pattern), [directory],
                             shards=shards)
        payload = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
        file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
        for artifact in examples:
            if payload:
                examples_utils.set_payload_format(artifact, payload)
            if file_format:
                examples_utils.set_file_format(artifact,
                                               write_split.to_file_format_str(file_format))
