import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import aitom  # noqa: E402,F401  first, before any test module imports TensorFlow: it turns oneDNN on (aitom/__init__.py)
