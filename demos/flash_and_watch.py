"""Pack a program into a firmware image, flash it to a board and watch detections live.

    python demos/flash_and_watch.py PROGRAM.wtmk AUDIO.wav              # a virtual board
    python demos/flash_and_watch.py PROGRAM.wtmk AUDIO.wav --port /dev/ttyUSB0

Without --port a virtual board is started on a pseudo-terminal (flash kept in board_flash.bin, so
a second run resumes or skips). The audio is sent to the board, which runs the program and streams
detection events back.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wtmkws.audio_pipeline.io import load_audio
from wtmkws.firmware_model.engine import DetectorConfig
from wtmkws.firmware_model.program_io import load_program
from wtmkws.tools.board import VirtualBoard
from wtmkws.tools.client import DeployClient, open_port
from wtmkws.tools.image import pack_image


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("program", type=Path)
    ap.add_argument("audio", type=Path)
    ap.add_argument("--port", help="pyserial URL of a real board (default: a virtual board)")
    ap.add_argument("--baud", type=int, default=921600)
    ap.add_argument("--threshold", type=float, default=0.8)
    args = ap.parse_args()

    image = pack_image(load_program(args.program), detector=DetectorConfig(threshold=args.threshold))
    board = None
    url = args.port
    if url is None:
        board = VirtualBoard(Path("board_flash.bin"), baud=115200)
        url = board.serve_pty()
    port = open_port(url, baud=115200)
    try:
        client = DeployClient(port)
        result = client.flash(image, baud=args.baud,
                              on_progress=lambda done, total: print(f"\r{done}/{total} B", end=""))
        print("\n" + result.summary())
        client.send_audio(load_audio(args.audio))
        for event in client.events(idle_timeout_s=2.0):
            print(f"{event.time_s:8.2f} s  {event.label:<16} score {event.score:.3f}")
    finally:
        port.close()
        if board is not None:
            board.stop()


if __name__ == "__main__":
    main()
