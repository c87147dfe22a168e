"""The command line: Click commands over the core, option bundles, gate options, the entry point,
progress and ``--version``. Nothing below this package prints or exits."""
