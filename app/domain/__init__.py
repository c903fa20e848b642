"""The rules of certification, free of I/O: every rule a reader needs lives in this package."""
