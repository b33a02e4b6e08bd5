"""``python -m sentrial_integrations``: the same as the ``sentrial-integrations`` command."""

import sys

from .cli import main

sys.exit(main())
