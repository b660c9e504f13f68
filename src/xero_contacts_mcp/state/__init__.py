"""State behind small interfaces (limiter now; token store, locks and caches as they land).

Each has an in-process implementation; nothing above this package knows which one it uses.
"""
