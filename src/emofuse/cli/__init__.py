"""The ``emofuse`` command line (Typer). Each sub-command lives in its own module and is mounted in main."""
