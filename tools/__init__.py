"""wtmkws.tools: firmware images, the serial protocol, deploy, the virtual board and the CLI.

Firmware images
    pack_image, unpack_image, verify_image, read_image, write_image, ImageError (:mod:`.image`)
Deploy
    open_port (:mod:`.transport`); DeployClient, FlashResult (:mod:`.client`)
The virtual board
    VirtualBoard, FaultConfig (:mod:`.board`)
The end-to-end demo
    run_demo, DemoConfig (:mod:`.demo`)
The command line
    main (:mod:`.cli`)
"""

from wtmkws.audio_pipeline._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(__name__, {
    "image": ("pack_image", "unpack_image", "verify_image", "read_image", "write_image",
              "ImageError"),
    "transport": ("open_port",),
    "client": ("DeployClient", "FlashResult"),
    "board": ("VirtualBoard", "FaultConfig"),
    "demo": ("run_demo", "DemoConfig"),
    "cli": ("main",),
})
