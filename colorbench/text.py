"""Text from files and names, shown safely: a name may hold any character but ``/``."""

from __future__ import annotations

import re

# Control characters (a newline, a tab, ESC starting a terminal sequence that could
# clear the screen or retitle the window), line and paragraph separators, and the
# marks that reorder text right to left are shown as Python writes them in a string,
# \n, \x1b, \u202e...: the name stays visible, whole, and in its order.
_CONTROLS = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROLS_AND_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text, *, one_line: bool = True) -> str:
    """``text`` with its control characters escaped (newlines too, unless not ``one_line``)."""
    return (_CONTROLS_AND_NEWLINE if one_line else _CONTROLS).sub(lambda m: repr(m.group())[1:-1], str(text))
