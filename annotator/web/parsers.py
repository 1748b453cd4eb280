"""Request body parsers of the API."""
import re
from typing import Optional

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# A JSON escape such as "\ud800" that is half of a surrogate pair decodes to a string that is no
# Unicode: it cannot be encoded, stored or written back (an error echoing it was a 500).
_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(data) -> Optional[str]:
    """Return where the parsed JSON holds a string that is not Unicode ("category", "holding[0]", "a key
    of ..."), or None."""
    stack = [(data, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return where or "the body"
        elif isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    return f"a key of {where or 'the body'}"
                stack.append((item, f"{where}.{key}" if where else key))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))
    return None


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 for JSON nested deeper than Python's parser can follow
    (e.g. 100,000 brackets), where the plain parser's RecursionError became a 500, and for strings
    that are not Unicode (lone surrogate escapes)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        where = _lone_surrogate(data)
        if where is not None:
            raise ParseError(f"JSON parse error - {where}: not valid Unicode (a lone surrogate escape such as \\ud800)")
        return data
