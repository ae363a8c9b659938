"""``python -m biobft.cli`` (e.g. under ``accelerate launch -m biobft.cli train ...``)."""

import sys

from . import main

sys.exit(main())
