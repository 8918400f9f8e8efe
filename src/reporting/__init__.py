"""Results read back and reported: runs for figures and tables, answers measured on the test set, their tables and
McNemar's tests, the figures."""
