"""``python -m fastloss``: the same as the ``fastloss`` command."""

import sys

from fastloss.cli import main

sys.exit(main())
