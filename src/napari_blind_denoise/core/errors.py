"""Exceptions with messages meant for the user (CLI prints them on one line, GUI notifies)."""


class BlindDenoiseError(Exception):
    """Base class of the errors that describe a user-fixable problem."""


class InputError(BlindDenoiseError, ValueError):
    """The input data cannot be denoised as given (shape, axes, values, dtype)."""


class CheckpointError(BlindDenoiseError, ValueError):
    """A model folder is missing, corrupt, or not one of ours."""
