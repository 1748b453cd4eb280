"""Request body parsers of the API."""
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 for JSON nested deeper than Python's parser can follow
    (e.g. 100,000 brackets), where the plain parser's RecursionError became a 500."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
