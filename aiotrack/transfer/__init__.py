"""``aiotrack import SRC DST``: copy everything from one backend store to another."""
