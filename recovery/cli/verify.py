"""`plan verify ...`: filled in by the verify work."""

from argparse import _SubParsersAction


def add_parsers(sub: _SubParsersAction) -> None:
    return None
