"""Plain Python over web3.py: no Django here, and no module-level client (``w3`` is passed in)."""
