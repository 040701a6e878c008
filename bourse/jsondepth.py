"""How deep a JSON text nests, found before any parser recurses into it.

JSON parsers recurse once per level (msgspec's untyped decoder raises RecursionError
somewhere past a thousand), so a client's body or message is checked first.

Invariants:
- ``nests_deeper(text, limit)`` is True exactly when the arrays and objects of a
  well-formed JSON text open more than ``limit`` levels at some point; brackets inside
  strings do not count.  For a malformed text it may answer either way: the parser
  refuses that text anyway.
- Linear time, and a text with at most ``limit`` brackets in all is not scanned.
"""

from __future__ import annotations

import re

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


def nests_deeper(text: bytes | str, limit: int) -> bool:
    data = text.encode() if isinstance(text, str) else text
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in _OPENERS:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
