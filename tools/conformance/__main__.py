import sys

from tools.conformance.cli import main

sys.exit(main(sys.argv[1:]))
