"""`python -m infra.tenants`: see `infra.tenants.cli`."""

import sys

from infra.tenants.cli import main

sys.exit(main())
