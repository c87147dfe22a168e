"""losscli — score model predictions from CSV/Parquet with streaming NumPy loss kernels."""

__version__ = "0.1.0"
