"""(to be written)"""

from argparse import _SubParsersAction


def add_parsers(sub: _SubParsersAction) -> None:
    return None
