"""Errors of the sealing tools; the CLI maps them to exit codes."""


class SealError(Exception):
    """Bad input an operator must fix (CLI exit code 2); the message names what to fix."""


class DecryptError(Exception):
    """A ciphertext that none of the given private keys can open (wrong key, label or corrupt data)."""
