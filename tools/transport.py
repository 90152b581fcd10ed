"""The transport seam: open any pyserial URL and wrap its errors into :class:`DeviceError`.

The deploy client depends only on :class:`Transport` (read with a timeout, write, set the line
rate, close). :func:`open_port` opens anything ``serial.serial_for_url`` accepts: a device path
(``/dev/ttyUSB0``, ``COM3``), a pseudo-terminal path (the virtual board), ``socket://host:port``,
``loop://``. OS and pyserial failures become one-line :class:`DeviceError` messages with a hint
(missing port: ``wtmkws ports``; permission: the dialout group; busy: close the other program).
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from typing import Protocol

import serial

from wtmkws.audio_pipeline.errors import WtmkwsError

__all__ = ["DeviceError", "Transport", "SerialTransport", "open_port", "hexdump", "wrap_os_error"]

_POLL_S = 0.01


class DeviceError(WtmkwsError):
    """The port or the board failed: missing, busy, not permitted, disconnected, not answering."""


class Transport(Protocol):
    """What the deploy client needs from a link."""

    url: str
    """The port URL (for messages)."""

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        """Bytes available within ``timeout_s`` seconds (possibly b"")."""
        ...

    def write(self, data: bytes) -> None:
        """Send all bytes."""
        ...

    def set_baudrate(self, baud: int) -> None:
        """Change the local line rate."""
        ...

    @property
    def baudrate(self) -> int:
        """Current local line rate (bits/s)."""
        ...

    def close(self) -> None:
        """Release the port."""
        ...


def hexdump(data: bytes, *, prefix: str = "", width: int = 16) -> list[str]:
    """Classic hexdump lines (offset, hex bytes, ASCII) of ``data``."""
    lines = []
    for off in range(0, len(data), width):
        chunk = data[off:off + width]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{prefix}{off:04x}  {hexes:<{width * 3}} {text}")
    return lines


def wrap_os_error(url: str, exc: BaseException, *, action: str = "open") -> DeviceError:
    """Turn a pyserial/OS exception into a one-line DeviceError with a hint."""
    code = getattr(exc, "errno", None)
    text = str(exc).lower()
    if code in (errno.ENOENT, errno.ENODEV, errno.ENXIO) or "no such file" in text or (
        "filenotfound" in text or "cannot find the file" in text
    ):
        return DeviceError(f"port {url} not found",
                           hint="list the ports with `wtmkws ports` (or start `wtmkws board --pty`)")
    if code in (errno.EACCES, errno.EPERM) or "permission denied" in text or "access is denied" in text:
        return DeviceError(f"permission denied opening port {url}",
                           hint="add yourself to the dialout group (sudo usermod -aG dialout "
                                "$USER) and log in again")
    if code == errno.EBUSY or "busy" in text or "exclusively lock" in text:
        return DeviceError(f"port {url} is busy (another program has it open)",
                           hint="close serial monitors and other flash tools using it; stop "
                                "ModemManager if it grabs the port")
    if code == errno.ECONNREFUSED or "refused" in text:
        return DeviceError(f"nothing is listening at {url} (connection refused)",
                           hint="start the board: `wtmkws board --listen socket://HOST:PORT`")
    if code == errno.EIO or "disconnected" in text or "returned no data" in text or (
        "bad file descriptor" in text
    ):
        return DeviceError(f"port {url} disconnected during {action}",
                           hint="check the cable and the board; `wtmkws flash` again resumes")
    return DeviceError(f"cannot {action} port {url}: {exc}",
                       hint="check the port name (`wtmkws ports`) and that the board is connected")


class SerialTransport:
    """A :class:`Transport` over a pyserial object (any URL scheme).

    Args:
        ser: an open pyserial port.
        url: the URL it was opened with (for messages).
        spy: optional callback receiving hexdump lines of every read and write (debugging).
    """

    def __init__(self, ser: serial.SerialBase, url: str, *,
                 spy: Callable[[str], None] | None = None) -> None:
        self._ser = ser
        self.url = url
        self._exact_in_waiting = "://" not in url  # OS ports report exact byte counts
        self._spy = spy

    @property
    def baudrate(self) -> int:
        """Current local line rate (bits/s)."""
        return int(self._ser.baudrate)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        """Read up to ``max_bytes`` bytes, waiting at most ``timeout_s`` seconds for the first.

        Raises:
            DeviceError: the port went away.
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        try:
            while True:
                data = self._ser.read(1)  # waits up to the poll interval for the first byte
                if data and max_bytes > 1:
                    data += self._read_available(max_bytes - 1)
                if data:
                    if self._spy:
                        for line in hexdump(data, prefix="RX "):
                            self._spy(line)
                    return data
                if time.monotonic() >= deadline:
                    return b""
        except (serial.SerialException, OSError) as exc:
            raise wrap_os_error(self.url, exc, action="read") from None

    def _read_available(self, max_bytes: int) -> bytes:
        """What is already buffered, without waiting."""
        if self._exact_in_waiting:
            n = self._ser.in_waiting
            return self._ser.read(min(max_bytes, n)) if n else b""
        # socket:// and similar report only "something is waiting": read non-blocking instead
        self._ser.timeout = 0
        try:
            return self._ser.read(max_bytes)
        finally:
            self._ser.timeout = _POLL_S

    def write(self, data: bytes) -> None:
        """Write every byte.

        Raises:
            DeviceError: the port went away.
        """
        if self._spy:
            for line in hexdump(data, prefix="TX "):
                self._spy(line)
        try:
            self._ser.write(data)
        except (serial.SerialException, OSError) as exc:
            raise wrap_os_error(self.url, exc, action="write") from None

    def set_baudrate(self, baud: int) -> None:
        """Change the local line rate (a no-op for socket URLs).

        Raises:
            DeviceError: the port rejects the rate.
        """
        try:
            self._ser.baudrate = baud
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceError(f"port {self.url} rejects baud {baud}: {exc}",
                              hint="pick a standard rate (115200, 460800, 921600)") from None

    def close(self) -> None:
        """Close the port (errors ignored: it may already be gone)."""
        try:
            self._ser.close()
        except (serial.SerialException, OSError):
            pass

    def __enter__(self) -> SerialTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_port(url: str, *, baud: int = 115200,
              spy: Callable[[str], None] | None = None) -> SerialTransport:
    """Open a port by pyserial URL.

    Args:
        url: a device path, pty path, ``socket://host:port``, ``loop://`` or any other pyserial URL.
        baud: line rate in bits/s.
        spy: optional hexdump-line callback.

    Returns:
        The open transport.

    Raises:
        DeviceError: not found, permission denied, busy, refused, bad URL (one line, with a hint).
    """
    is_url = "://" in url
    try:
        kwargs = {} if is_url else {"exclusive": True}
        ser = serial.serial_for_url(url, baudrate=baud, timeout=_POLL_S, write_timeout=30,
                                    **kwargs)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise wrap_os_error(url, exc) from None
    return SerialTransport(ser, url, spy=spy)
