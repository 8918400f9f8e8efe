"""Constrained evolutionary search with Hyperband for small CNNs.

python src/AutoML.py --constraint_max_model_size 2e7 --constraint_min_precision 0.39 [--max_time 3600] …
"""
import sys

from search_cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], "AutoML.py", "ea"))
