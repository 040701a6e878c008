"""Shared set-up for the feed tests.

``feedkit`` (next to this file) is imported by plain name; putting this directory and
``tests/`` (for ``harness``) on ``sys.path`` makes that work under every import mode.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).parent
for _path in (str(_HERE), str(_HERE.parent)):
    if _path not in sys.path:
        sys.path.insert(0, _path)
