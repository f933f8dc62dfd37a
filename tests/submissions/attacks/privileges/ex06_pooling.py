"""What the learner's process may do, reported in the error message: its capabilities and ids, a file
handle to the host's root, a mount, a new user namespace, taking uid 0 back."""

import json
import os

from hostfs import CLONE_NEWUSER, LIBC, attempt, check, host_root


def pool(x, mode, num_prefix_tokens=0):
    with open("/proc/self/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    found = {k: status[k].strip() for k in ("CapEff", "CapPrm", "CapAmb")}
    found.update(uid=os.getuid(), euid=os.geteuid(), handle=attempt(host_root),
                 mount=attempt(lambda: check(LIBC.mount(b"none", os.getcwd().encode(), b"tmpfs", 0, None), "mount")),
                 userns=attempt(lambda: check(LIBC.unshare(CLONE_NEWUSER), "unshare")),
                 setuid0=attempt(lambda: os.setuid(0)))
    raise RuntimeError("PROBE " + json.dumps(found, sort_keys=True, separators=(",", ":")))
