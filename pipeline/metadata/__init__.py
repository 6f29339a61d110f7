"""ML Metadata readers: the store, catalog, run record, report sources, lineage, blessing."""
