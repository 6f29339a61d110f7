"""ImportSchemaGen whose cache key includes the schema file's content.

Stock ImportSchemaGen keys its cache on the file *path* only, so a curated schema edited
in place would be served stale from the cache. The extra ``schema_fingerprint``
parameter (ignored by the stock executor) changes whenever the content does.
"""
from __future__ import annotations

import hashlib
from typing import Optional

from tfx import types
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.types import standard_artifacts, standard_component_specs
from tfx.types.component_spec import ExecutionParameter


def file_fingerprint(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class _Spec(standard_component_specs.ImportSchemaGenSpec):
    PARAMETERS = {**standard_component_specs.ImportSchemaGenSpec.PARAMETERS,
                  "schema_fingerprint": ExecutionParameter(type=str, optional=True)}


class FingerprintedImportSchemaGen(ImportSchemaGen):
    """Stock ImportSchemaGen, re-run whenever the schema file's content changes."""

    SPEC_CLASS = _Spec

    def __init__(self, schema_file: str, fingerprint_of: Optional[str] = None):
        """``fingerprint_of``: the local copy of ``schema_file`` when that path is only valid
        where the executor runs (inside the pipeline image)."""
        spec = _Spec(schema_file=schema_file,
                     schema_fingerprint=file_fingerprint(fingerprint_of or schema_file),
                     schema=types.Channel(type=standard_artifacts.Schema))
        super(ImportSchemaGen, self).__init__(spec=spec)
