"""``python -m rawsock URL`` (interactive client) and ``python -m rawsock serve`` (echo server)."""

import sys

from ._cli import main

sys.exit(main())
