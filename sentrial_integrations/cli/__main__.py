"""``python -m sentrial_integrations.cli``: the same as ``sentrial-integrations``."""

import sys

from . import main

sys.exit(main())
