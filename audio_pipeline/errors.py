"""The root of every wtmkws error.

It lives at the head of the data path (audio -> features -> program -> emulator -> detections ->
image -> board) so that every package can import it without importing a later stage. Domain
packages define their own subclasses (``ProgramError`` in firmware_model, ``CompileError`` in sdk,
``ImageError``/``ProtocolError``/``DeviceError`` in tools). The CLI turns any of them into one
``error:`` line, one optional ``hint:`` line and exit code 2, in exactly one place
(``wtmkws.tools.cli``).
"""

from __future__ import annotations

__all__ = ["WtmkwsError", "ConfigError", "AudioFormatError"]


class WtmkwsError(Exception):
    """Base class of all errors wtmkws raises on purpose.

    Args:
        message: one line saying what was wrong (name the file, layer, field or value).
        hint: one line saying what to do about it, or None.
    """

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(WtmkwsError):
    """A configuration value is out of its allowed range or of the wrong kind."""


class AudioFormatError(WtmkwsError):
    """An audio file or buffer cannot be used (unreadable, empty, NaN, unsupported format)."""
