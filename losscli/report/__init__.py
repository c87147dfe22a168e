"""Output: the terminal seam (``terminal``), result renderers (``render``: table, JSON, CSV,
NDJSON, Markdown, value) and CI reports (``ci``: JUnit, step summary, ``::error::`` lines)."""
