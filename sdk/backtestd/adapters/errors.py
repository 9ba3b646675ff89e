"""The adapters' errors."""


class AdapterError(Exception):
    """What a bot returned cannot be turned into a result, or its job cannot be run as asked; the
    message says what was expected."""
