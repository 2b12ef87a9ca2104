"""Errors shared by every cartsim package.

Every error a user can cause by bad input derives from :class:`CartsimError`, so the command line can turn it
into one line and exit status 2 before any long work starts.
"""


class CartsimError(ValueError):
    """Bad input: the message names the culprit and what is accepted."""


class ParameterError(CartsimError):
    """An unknown parameter name or an invalid parameter value."""
