"""Random search baseline: the same flags (where they apply), size handling and outputs as AutoML.py."""
import sys

from running.search_cli import main
from status import Algorithm

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], "AutoML_random_search.py", Algorithm.RANDOM))
