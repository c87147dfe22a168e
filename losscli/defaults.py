"""Defaults shared by the command line, gate files and the engine (no heavy imports)."""

#: Rows per chunk. Memory is bounded by it; readers may hand over smaller pieces.
DEFAULT_CHUNK_SIZE = 1 << 20
#: Bytes of values a multi-pass loss (exact quantiles) keeps in memory from a once-readable
#: input (stdin, a pipe) before spooling them to a temporary file (``--memory-limit``).
DEFAULT_MEMORY_LIMIT = 512 << 20
NAN_POLICIES = ("error", "skip", "propagate")
INPUT_FORMATS = ("csv", "tsv", "parquet", "ipc", "ndjson")
OUTPUT_FORMATS = ("table", "json", "csv", "ndjson", "markdown", "value")


#: ``--engine dask``: rows per unit of work (Parquet row-group runs are gathered up to this;
#: a unit never spans files). A unit costs ~16 worker-ms of fixed work (bench/engines.py), the
#: time to score ~0.4-0.8M rows of MSE: 16M-row units keep that under 5%.
DEFAULT_UNIT_ROWS = 1 << 24
#: What ``--show`` draws: the error histogram, the worst groups, the calibration curve.
CHART_KINDS = ("hist", "groups", "calibration")
#: What ``--report FILE`` writes, by the file's suffix.
REPORT_SUFFIXES = (".png", ".svg", ".html")


def report_suffix(path: str) -> str:
    """The lower-cased suffix of the file name in ``path``, by ``pathlib.PurePath.suffix``'s
    rule (from the last dot; a leading dot does not count), without importing pathlib
    (~5 ms with urllib.parse)."""
    import os.path  # already loaded with the interpreter

    name = os.path.basename(path.rstrip(os.sep + (os.altsep or "")))
    dot = name.rfind(".")
    return name[dot:].lower() if 0 < dot < len(name) - 1 else ""


#: Quantile interpolation methods: NumPy's ``np.quantile(method=...)`` names (unweighted), and
#: the two that have a weighted definition (NumPy's weighted ``inverted_cdf``; scikit-learn's
#: weighted percentile, ``averaged_inverted_cdf``). One list for the catalogue's option check
#: and the exact quantile states.
NUMPY_QUANTILE_METHODS = (
    "linear",
    "lower",
    "higher",
    "nearest",
    "midpoint",
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "median_unbiased",
    "normal_unbiased",
)
WEIGHTED_QUANTILE_METHODS = ("averaged_inverted_cdf", "inverted_cdf")
