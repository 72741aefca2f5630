"""``python -m ml_pipeline.cli``: the core's commands alone, without the platform's."""

import sys

from ml_pipeline.cli import main

sys.exit(main())
