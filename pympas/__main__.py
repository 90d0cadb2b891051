import sys

from pympas.cli import main

sys.exit(main())
