"""The JSON body parser of every DRF view: DRF's, with a nesting too deep to decode
answered as 400 instead of a ``RecursionError`` (a 500).

Python's decoder gives up at about a thousand levels, long after any real body;
limits on what a body may hold are the views' (e.g. ``details``,
``runs.domain.lifecycle.details``).
"""

from __future__ import annotations

from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError("JSON parse error - nested too deeply") from None
