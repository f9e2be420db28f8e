"""Makes the example importable from its source tree: this repository's .venv installs the
bundled plugins, not the examples. A plugin installed with ``pip install -e .`` needs no
such file; its tests just ``import xtomp_regexfilter``."""

import sys
from pathlib import Path

SOURCE = str(Path(__file__).resolve().parents[1])
if SOURCE not in sys.path:
    sys.path.insert(0, SOURCE)
