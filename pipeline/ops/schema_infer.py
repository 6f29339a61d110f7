"""``infer-schema``: a starting schema for a new CSV dataset, read as the pipeline reads it,
and with ``--label``, the task that label suggests.

TFDV's inference describes the whole file: a column with one value in 15,000 rows gets
``presence { min_count: 1 }``, which the gate then checks on each hash split of each span,
and the split without that row stops the run. So the proposal is adjusted to what holds for
every split the pipeline makes (and for a later span of similar data), then checked against
those very splits, and every column too sparse to be useful is named in a warning.
"""
from __future__ import annotations

import glob
import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow_data_validation as tfdv
from tensorflow_data_validation.statistics import stats_impl
from tensorflow_metadata.proto.v0 import schema_pb2

from components.lib.csv_read import CsvDataError, record_batches
from components.lib.examples import encode_deterministic, split_index
from components.lib import label as label_lib
from pipeline.config import DataConfig

# An integer label with at most this many distinct values is proposed as a class label.
MAX_PROPOSED_CLASSES = 20
# A column not present in every row is required (min_count 1) only when the smallest split of
# each span can expect this many of its values (30 in a span at a 2:1 split): the chance that
# a split gets none is then about 1 in 200,000 ((2/3) ** 30) for that data, and e ** -10 (1 in
# 20,000) for a later span with as many.
MIN_VALUES_PER_SPLIT = 10
# Values in fewer than this fraction of rows: too few for a feature to be worth its input.
ALMOST_EMPTY_FRACTION = 0.01
# A string domain is kept only when each of its values occurs this often: rare values say the
# set is open, and a later span's new value would stop the run at the gate.
MIN_DOMAIN_VALUE_ROWS = 3
SPLIT_NAMES = ("train", "eval")  # the factory's hash split, in bucket order


@dataclass(frozen=True)
class Span:
    """The rows of one folder of CSV files (a span), and the split each row goes to."""
    name: str
    table: pa.Table
    split: np.ndarray  # index into SPLIT_NAMES, as CsvExampleGen hashes the row


def _csv_files(data: str) -> List[str]:
    if os.path.isfile(data):
        return [data]
    files = sorted(glob.glob(os.path.join(data, "**", "*.csv"), recursive=True))
    if not files:
        raise ValueError(f"{data}: no .csv file found")
    return files


def _file_table(path: str, bounds: List[int]) -> Tuple[pa.Table, List[int]]:
    """One CSV file as the pipeline reads it, and each row's split."""
    batches, splits = [], []
    for batch in record_batches(path):
        batches.append(batch)
        splits.extend(split_index(e, bounds) for e in encode_deterministic(batch))
    return pa.Table.from_batches(batches), splits


_FLOAT_LIST = pa.list_(pa.float32())


def _unify(tables: Dict[str, pa.Table]) -> Dict[str, pa.Table]:
    """The tables (of files or spans, by name) with one type per column, as a schema needs:
    those with values of a column decide its type (one without any reads it as text), and a
    column with integers in some and decimals in others is FLOAT."""
    first, names = next(iter(tables)), next(iter(tables.values())).column_names
    for where, table in tables.items():
        if table.column_names != names:
            raise ValueError(f"{where}: its columns ({', '.join(table.column_names)}) differ "
                             f"from those of {first} ({', '.join(names)})")
    for name in names:
        typed = {t.schema.field(name).type for t in tables.values()
                 if present_count(t.column(name))}
        if typed == {pa.list_(pa.int64()), _FLOAT_LIST}:
            typed = {_FLOAT_LIST}
        if len(typed) > 1:
            text = [w for w, t in tables.items() if present_count(t.column(name))
                    and t.schema.field(name).type == pa.list_(pa.binary())]
            raise ValueError(f"column {name!r} has text in {', '.join(text)} but numbers "
                             "elsewhere in the data: one column needs one type")
        for where, table in tables.items():
            if typed and table.schema.field(name).type not in typed:
                index = table.schema.get_field_index(name)
                tables[where] = table.set_column(index, name, table.column(name).cast(*typed))
    return tables


def read_spans(data: str, buckets: Tuple[int, int]) -> List[Span]:
    """Each folder's rows (a span), read and hash-split (``buckets`` train:eval) as the
    pipeline does."""
    bounds = [buckets[0], buckets[0] + buckets[1]]
    try:
        read = {path: _file_table(path, bounds) for path in _csv_files(data)}
    except CsvDataError as e:
        raise ValueError(str(e)) from None
    spans = []
    for folder in dict.fromkeys(os.path.dirname(p) for p in read):
        paths = [p for p in read if os.path.dirname(p) == folder]
        name = os.path.relpath(folder, data) if os.path.isdir(data) else os.path.basename(data)
        # One span is read as one dataset, so its files agree; spans may differ (a column
        # empty in one span is text there), as the pipeline reads one span at a time.
        tables = _unify({p: read[p][0] for p in paths})
        spans.append(Span(name if name != "." else os.path.basename(os.path.abspath(data)),
                          pa.concat_tables(list(tables.values())),
                          np.asarray([i for p in paths for i in read[p][1]], dtype=int)))
    return spans


def _statistics(table: pa.Table):
    return stats_impl.generate_statistics_in_memory(table.combine_chunks().to_batches()[0])


def infer(data: str, label: Optional[str] = None,
          buckets: Tuple[int, int] = (DataConfig.train_buckets, DataConfig.eval_buckets)
          ) -> Tuple[schema_pb2.Schema, List[str]]:
    """TFDV's schema inferred over every CSV under ``data`` (NA as missing), with presence and
    domains that hold on each span's hash splits; with ``label``, the task it suggests.
    Returns the schema and the lines to say: the task, warnings, the check of the splits."""
    spans = read_spans(data, buckets)
    table = pa.concat_tables(list(_unify({s.name: s.table for s in spans}).values()))
    schema = tfdv.infer_schema(_statistics(table))
    schema.default_environment.extend(["TRAINING", "SERVING"])
    lines = propose_task(schema, table, label) if label else []
    lines += propose_presence(schema, spans, label, min(buckets) / sum(buckets))
    lines += open_rare_domains(schema, table, label)
    return schema, lines + check_splits(schema, spans, buckets)


def present_count(column: pa.ChunkedArray) -> int:
    """Rows with a value (a non-empty list) in a list column."""
    return int(pc.sum(pc.greater(pc.list_value_length(column), 0)).as_py() or 0)


def _exclude_hint(name: str) -> str:
    return (f"Consider leaving it out of the model: data.exclude_features: [{name}, ...] in "
            "your config (it is still checked against the schema).")


def propose_presence(schema: schema_pb2.Schema, spans: Sequence[Span], label: Optional[str],
                     smallest_split: float) -> List[str]:
    """Drops the presence requirement of each column some span has too few values of for
    every split (``smallest_split``: its fraction of a span) to get one; a warning line for
    each empty or almost empty column. The label stays required in every row."""
    needed = math.ceil(MIN_VALUES_PER_SPLIT / smallest_split)
    rows = sum(s.table.num_rows for s in spans)
    lines = []
    for feature in schema.feature:
        if feature.name == label:
            continue
        counts = [present_count(s.table.column(feature.name)) for s in spans]
        total, full = sum(counts), all(c == s.table.num_rows for c, s in zip(counts, spans))
        sparse = not full and min(counts) < needed
        if sparse:
            feature.presence.Clear()
            feature.presence.min_count = 0  # written out, so the curator sees the choice
        if total == 0:
            lines.append(f"Warning: column {feature.name!r} is empty (no value in {rows} rows): "
                         f"no presence required. {_exclude_hint(feature.name)}")
        elif sparse or total < ALMOST_EMPTY_FRACTION * rows:
            weakest = min(zip(counts, (s.name for s in spans)))
            where = f"; {weakest[0]} in {weakest[1]}" if len(spans) > 1 else ""
            why = (f"under {needed}, so a split may get none: no presence required"
                   if sparse else "almost empty")
            lines.append(f"Warning: column {feature.name!r} has a value in only {total} of "
                         f"{rows} rows ({total / rows:.1%}{where}): {why}. "
                         f"{_exclude_hint(feature.name)}")
    return lines


def open_rare_domains(schema: schema_pb2.Schema, table: pa.Table,
                      label: Optional[str]) -> List[str]:
    """Removes the string domain of each feature (not the label, whose domain lists its
    classes) with a value seen fewer than MIN_DOMAIN_VALUE_ROWS times, and says so."""
    lines = []
    for feature in schema.feature:
        if feature.name == label or not (feature.HasField("domain")
                                         or feature.HasField("string_domain")):
            continue
        counts = pc.value_counts(pc.list_flatten(table.column(feature.name))).field("counts")
        rare = int(pc.sum(pc.less(counts, MIN_DOMAIN_VALUE_ROWS)).as_py() or 0)
        if not rare:
            continue
        name = feature.domain
        feature.ClearField("domain")
        feature.ClearField("string_domain")
        if name and not any(f.domain == name for f in schema.feature):
            kept = [d for d in schema.string_domain if d.name != name]
            del schema.string_domain[:]
            schema.string_domain.extend(kept)
        lines.append(f"Column {feature.name!r}: {rare} of its {len(counts)} values occur fewer "
                     f"than {MIN_DOMAIN_VALUE_ROWS} times, so a later span likely brings new "
                     "ones: no domain set (the gate accepts any value; the model maps unseen "
                     "ones to its out-of-vocabulary bucket).")
    return lines


def check_splits(schema: schema_pb2.Schema, spans: Sequence[Span],
                 buckets: Tuple[int, int]) -> List[str]:
    """Validates ``schema`` against each span's train and eval split as the gate will: a
    warning line per split with anomalies, else one line saying all passed."""
    from components.lib.anomalies import describe

    lines = []
    for span in spans:
        for index, split in enumerate(SPLIT_NAMES):
            rows = span.table.filter(pa.array(span.split == index))
            if rows.num_rows == 0:
                continue
            # A column without values has no type in the pipeline's statistics; left out, it
            # fails a presence requirement just as it does there ("Column dropped").
            rows = rows.select([n for n in rows.column_names if present_count(rows.column(n))])
            found = describe(tfdv.validate_statistics(_statistics(rows), schema))
            if found:
                lines.append(f"Warning: {span.name}, {split} split: the gate would stop the run: "
                             + " | ".join(found))
    if not lines:
        lines.append(f"Checked: the train and eval splits ({buckets[0]}:{buckets[1]} hash split) "
                     f"of {len(spans)} span(s) all pass the gate with this schema.")
    return lines


def propose_task(schema: schema_pb2.Schema, table: pa.Table, label: str) -> List[str]:
    """Marks ``label`` absent at serving and proposes its task from its values: strings or a
    few integers are classes (an integer label gets an int_domain of their range), other
    numbers a regression target."""
    feature = next((f for f in schema.feature if f.name == label), None)
    if feature is None:
        raise ValueError(f"--label: {label!r} is not a column of the data "
                         f"(columns: {', '.join(f.name for f in schema.feature)})")
    feature.not_in_environment.append("SERVING")
    feature.presence.min_fraction = 1.0  # every training row needs its label
    # Each cell is a list of one value (or none when missing), as tf.Example features are.
    values = pc.unique(pc.list_flatten(table.column(label))).to_pylist()
    if feature.type == schema_pb2.BYTES:
        task, what = label_lib.CLASSIFICATION, f"text with {len(values)} distinct value(s)"
    elif feature.type == schema_pb2.INT and 2 <= len(values) <= MAX_PROPOSED_CLASSES:
        feature.ClearField("bool_domain")
        feature.int_domain.min, feature.int_domain.max = int(min(values)), int(max(values))
        task = label_lib.CLASSIFICATION
        what = (f"integers with {len(values)} distinct values "
                f"({', '.join(str(v) for v in sorted(values))}; int_domain {min(values)} to "
                f"{max(values)} set)")
    else:
        task = label_lib.REGRESSION
        what = (f"numbers ({schema_pb2.FeatureType.Name(feature.type)}, "
                f"{len(values)} distinct values)")
    kind = (" (binary)" if len(values) == 2 else " (multi-class)") if task != label_lib.REGRESSION else ""
    lines = [f"Label {label!r}: {what}: proposed task {task}{kind}.",
             f"In your config: data.label: {label}, data.task: {task}"
             + (", evaluator.max_error: <the largest acceptable error>"
                if task == label_lib.REGRESSION else "")]
    return lines


def write(schema: schema_pb2.Schema, output: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    tfdv.write_schema_text(schema, output)
