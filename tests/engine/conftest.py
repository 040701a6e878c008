"""Shared set-up for the engine tests.

The helper modules next to this file (``reference_book``, ``engine_streams``) are imported by
plain name; putting this directory on ``sys.path`` makes that work under every pytest
import mode, not only the default one.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
