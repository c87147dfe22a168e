"""Gates: thresholds and baselines (``rules``), gated runs (``run``) and check files
(``checkfile``): values in, verdicts out."""
