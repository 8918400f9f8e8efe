"""Running a search: the command line of AutoML.py and AutoML_random_search.py, one run's setup, the one-process and
Dask drivers, jobs on workers, the cluster, the run's log and --resume."""
