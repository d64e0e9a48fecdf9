"""Errors the CLI reports as one clear line (never a traceback)."""


class WastestreamError(Exception):
    """An error with a message meant for the operator."""
