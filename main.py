"""The command line: `python main.py --help`."""

from dunning.cli import app

if __name__ == "__main__":
    app()
