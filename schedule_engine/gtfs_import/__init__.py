"""GTFS static import: reading a feed (zip or folder), validating it and bulk-loading it.

One module per stage. `source` reads files as streamed CSV records, `fields` parses
values and `parse` types a record's columns, reporting problems to `errors.Problems`;
`validate` holds the rules that span records; `geometry` derives metres along the
shapes and fills missing times by them; `load` drives the stages per file in `tables`
order and COPYs the rows (`bulk_copy`) inside the caller's transaction. All but `load`
and `bulk_copy` are pure (no Django).
"""
