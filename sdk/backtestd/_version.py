"""The version of the backtestd package (the wheel and `describe` report it)."""
__version__ = "0.1.0"
