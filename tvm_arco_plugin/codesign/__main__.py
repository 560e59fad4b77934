import sys

from .network import main

sys.exit(main())
