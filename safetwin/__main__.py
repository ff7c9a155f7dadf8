import sys

from safetwin.cli import main

sys.exit(main())
