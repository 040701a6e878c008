"""The durability suites reuse the accounts suites' simulation and traders."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "accounts"))
