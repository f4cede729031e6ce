import sys

from service.elm.conformance.cli import main

sys.exit(main(sys.argv[1:]))
