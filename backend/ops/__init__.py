"""The operator's status page: what beat, the workers, the feeds, the scan and ingest are doing.

``status`` decides each part's shape from what was read (pure); ``readers`` read one source
each and let a part whose source fails say so while the others answer; ``api`` serves the
document at ``GET /api/ops/status`` and ``admin_page`` shows it as tables in the admin.
"""
