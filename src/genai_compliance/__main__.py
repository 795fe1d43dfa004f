"""``python -m genai_compliance``."""

import sys

from .cli import main

sys.exit(main())
