"""A local stand-in for Snapshot's sequencer and hub, run as its own process on 127.0.0.1.

``python -m snapshothub serve ...`` takes signed messages at ``POST /`` (checked as Snapshot's
sequencer checks them, refused with its words) and answers GraphQL at ``/graphql`` (the subset of
the real hub's schema Lifeboat reads). Voting power is read from an EVM node (erc20-votes style).
This package never imports Django or Lifeboat's apps: it is a separate service.
"""
