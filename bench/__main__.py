"""`python -m bench` (or `make bench`): run every benchmark and print its report."""

from bench import planning

planning.main()
