"""Shared by the attacks on the limits: switch off the child's audit hook (as in escape/common.py)."""

import gc
import sys
import threading


def disarm():
    for obj in gc.get_objects():
        if getattr(obj, "__name__", None) == "hook" and getattr(obj, "__closure__", None):
            for cell in obj.__closure__:
                if isinstance(cell.cell_contents, threading.local):
                    cell.cell_contents.on = True
    getattr(sys.modules.get("__main__"), "DENIED_EVENTS", {}).clear()
