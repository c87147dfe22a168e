"""Input and output: sources (paths, globs, stdin), one module per format, Arrow → NumPy, writers.

Nothing here knows about losses: readers yield bounded Arrow record batches, ``convert`` turns
columns into float64 arrays and group keys, ``writers`` stream per-row output.
"""
