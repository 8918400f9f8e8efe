"""Constrained evolutionary search with Hyperband for small CNNs.

python src/AutoML.py [--constraint_max_model_size 2e7] [--constraint_min_precision 0.39] [--max_time 3600] …
(typed in src/ as the original project documented: python AutoML.py --pop_size 50 --num_children 10 --hyperband True)
"""
import sys

from running.search_cli import main
from status import Algorithm

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], "AutoML.py", Algorithm.EA))
