"""Shared by the attack folders (copied into each by the test): switch off the child's audit hook."""

import gc
import sys
import threading


def disarm():
    """Find the audit hook's thread-local flag through gc and set it; empty the child's deny lists."""
    for obj in gc.get_objects():
        if getattr(obj, "__name__", None) == "hook" and getattr(obj, "__closure__", None):
            for cell in obj.__closure__:
                if isinstance(cell.cell_contents, threading.local):
                    cell.cell_contents.on = True
    main = sys.modules.get("__main__")
    for name in ("DENIED_EVENTS", "PATH_READ_EVENTS", "PATH_WRITE_EVENTS"):
        if hasattr(main, name):
            getattr(main, name).clear()
