"""`python -m winback.generate ...`: the same options and output as `winback generate ...`."""

from __future__ import annotations

import argparse
import sys

from winback.generate.command import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m winback.generate",
        description="Write the demo data set into a landing folder, and its ground truth.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except ValueError as exc:  # bad settings, dates, paths: one line, as `winback` says it
        print(f"winback: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
