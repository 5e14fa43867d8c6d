"""`python -m tfp_flows` runs the `tfp-flows` command."""

import sys

from tfp_flows.cli import main

sys.exit(main())
