"""`python -m losscli` entry point."""

from losscli.cli.startup import main

if __name__ == "__main__":
    main()
