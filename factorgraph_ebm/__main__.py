"""``python -m factorgraph_ebm``: same as the ``fgebm`` command."""

import sys

from .cli.main import main

sys.exit(main())
