"""GTFS static import: reading a feed (zip or folder), validating it and bulk-loading it.

`source` reads files as streamed CSV rows, `fields` parses values (pure),
`bulk_copy` writes rows with binary COPY,
`tables` says which files and columns are required, `loader` validates and
COPYs one feed version inside the caller's transaction.
"""
