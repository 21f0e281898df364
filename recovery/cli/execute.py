"""`plan execute ...`: filled in by the execute work."""

from argparse import _SubParsersAction


def add_parsers(sub: _SubParsersAction) -> None:
    return None
