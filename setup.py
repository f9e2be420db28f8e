"""The one thing pyproject.toml does not declare: the optional C frame scanner.

``[tool.setuptools] ext-modules`` would say it in pyproject.toml, but only setuptools >= 74.1
reads that key and older ones refuse the whole file; builds without isolation use whatever
setuptools is installed (Python 3.11's venv brings 65.5). ``optional=True``: without a C
compiler or the Python headers the build prints a warning and installs the pure-Python
parser alone (xtomp_core/protocol/parser.py works either way).

``XTOMP_BUILD_SCANNER=0`` leaves the scanner out altogether, which makes a ``py3-none-any``
wheel that installs on any CPU and Python >= 3.10 (``make dist`` builds those for devices).
"""

import os

from setuptools import Extension, setup

SCANNER = Extension("xtomp_core.protocol._scanner", sources=["xtomp_core/protocol/_scanner.c"], optional=True)

setup(ext_modules=[] if os.environ.get("XTOMP_BUILD_SCANNER", "1") == "0" else [SCANNER])
