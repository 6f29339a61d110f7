"""The bad-input corpus: each folder here is one input broken in one way, and what must happen.

A data case is a data root (``<case>/span-1/*.csv``) passed with ``--data``; a config case is
``<case>/config.yaml`` passed with ``--config``. ``stage`` says where the run must stop:

* ``config``: ``config.load`` or the preflight checks, before any component and before the
  output root is locked (no ML Metadata run is created);
* ``spans``: span discovery in the CLI, also before any component;
* a component id: that component's execution FAILED in ML Metadata.

``expect`` lists texts the one error line must contain: the file, column or setting, and
what is wrong. ``docs/reliability.md`` shows the same table.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass(frozen=True)
class Case:
    name: str
    broken: str                     # what is wrong with the input
    stage: Optional[str]            # where the run stops; None: the input is valid and must work
    expect: Tuple[str, ...] = ()    # texts on the one error line

    @property
    def path(self) -> str:
        return os.path.join(HERE, self.name)

    @property
    def is_config(self) -> bool:
        return os.path.exists(os.path.join(self.path, "config.yaml"))

    @property
    def csv_files(self) -> list:
        folder = os.path.join(self.path, "span-1")
        return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".csv"))


READER, GATE = "CsvExampleGen", "ExampleValidator"

CASES = [
    Case("empty_file", "an empty file", READER, ("span-1/penguins.csv", "file is empty")),
    Case("header_only", "a header line and no rows", READER,
         ("span-1/penguins.csv", "has a header but no data rows")),
    Case("missing_column", "column sex left out", GATE, ("sex: Column dropped",)),
    Case("extra_column", "an extra column colour", GATE, ("colour: New column",)),
    Case("renamed_column", "island renamed to location", GATE,
         ("island: Column dropped", "location: New column")),
    Case("text_in_number", "'heavy' in the numeric body_mass_g", GATE,
         ("body_mass_g:", "INT but got STRING", '"heavy"')),
    Case("unknown_label", "a species never seen (Emperor)", GATE,
         ("species: Unexpected string values", "Emperor")),
    Case("missing_label", "species NA in two rows", GATE,
         ("species:", "present in fewer examples than expected")),
    Case("all_na_column", "bill_depth_mm NA in every row", GATE,
         ("bill_depth_mm:", "not present in any examples")),
    Case("not_utf8", "a Latin-1 byte (Dr\\xe9am)", READER,
         ("span-1/penguins.csv", "not UTF-8 at byte 631 (line 14)")),
    Case("duplicated_header", "the header line again after row 50", READER,
         ("span-1/penguins.csv", "data row 51 repeats the header line")),
    Case("inf_nan_literals", "'inf' and 'nan' in bill_length_mm", GATE,
         ("bill_length_mm:", "NaN values", "Inf values")),
    Case("absurd_values", "body_mass_g of 99999999999999999999999", GATE,
         ("body_mass_g:", "INT but got FLOAT")),
    Case("empty_span_dir", "a span folder with no CSV file", "spans",
         ("empty_span_dir", "no span has files matching")),
    Case("config_unknown_key", "trainer.train_stepz", "config",
         ("config_unknown_key/config.yaml", "unknown setting 'trainer.train_stepz'")),
    Case("config_wrong_type", "trainer.batch_size: thirty-two", "config",
         ("trainer.batch_size: must be int",)),
    Case("config_negative_steps", "trainer.train_steps: -5", "config",
         ("trainer.train_steps: must be positive",)),
    Case("config_label_not_in_data", "data.label: nosuch", "config",
         ("data.label: 'nosuch' is not a column of the schema",)),
    Case("config_label_without_classes", "an integer label with no int_domain", "config",
         ("data.label: 'big_tipper'", "integer column without an int_domain")),
    Case("config_regression_string_label", "data.task: regression on the string label species",
         "config", ("data.label: 'species'", "data.task: regression needs a numeric label")),
    Case("config_regression_without_max_error", "data.task: regression, no evaluator.max_error",
         "config", ("evaluator.max_error: must be a positive bound",)),
    Case("config_unwritable_output_root", "output_root under a regular file", "config",
         ("output_root:", "not-a-folder/out cannot be written")),
    Case("config_bad_pipeline_name", "pipeline_name: Penguins_Run", "config",
         ("pipeline_name: 'Penguins_Run' is not a valid Kubeflow name",)),
    Case("config_span_pattern_escapes", "data.span_pattern: ../penguins/span-{SPAN}/*.csv",
         "config", ("data.span_pattern:", "must stay inside the data root")),
    # Valid CSV that must work: one span, one file per dialect.
    Case("valid_dialects", "UTF-8 BOM, CRLF line ends, every field quoted, columns reordered",
         None),
]

FAILING = [c for c in CASES if c.stage]
BY_NAME = {c.name: c for c in CASES}
# Labels shuffled on purpose: valid data the gate passes, a model that cannot learn.
SHUFFLED_LABELS = os.path.join(HERE, "shuffled_labels")
