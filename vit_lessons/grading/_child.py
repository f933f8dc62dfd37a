"""The learner's side of the sandbox: run one exercise's cases and write what they returned.

Started by :mod:`vit_lessons.grading.sandbox` as ``python -I _child.py JOB_DIR`` in a fresh process group,
with a cleared environment and the working directory ``JOB_DIR/work``.  It never sees the expected outputs,
the solutions or the grader's results file: it reads ``JOB_DIR/job.json`` (the submission file, the
functions to call) and ``JOB_DIR/inputs.npz`` (the inputs), and for every case ``i`` writes
``JOB_DIR/out/i.json`` (+ ``i.npz`` for arrays).  The grader compares them in its own process.

Before the learner's module is imported it limits the address space (RLIMIT_AS), the size of files it may
write and its CPU time, and installs an audit hook (PEP 578) that refuses: reading files outside the
submission, the Python installation and the library; writing outside its working directory; starting
processes; sockets; ctypes.  An audit hook is a tripwire, not a security boundary (code that can load a
C extension of its own can step around it); the process boundary, the limits and the grader writing the
results last are what the grading relies on.
"""

import json
import os
import sys
import threading
import traceback

DENIED_EVENTS = {
    "subprocess.Popen": "starting a program", "os.system": "starting a program", "os.exec": "starting a program",
    "os.posix_spawn": "starting a program", "os.spawn": "starting a program", "os.fork": "starting a process",
    "os.forkpty": "starting a process", "pty.spawn": "starting a program", "os.kill": "sending a signal",
    "os.killpg": "sending a signal", "socket.connect": "network access", "socket.bind": "network access",
    "socket.sendto": "network access", "ctypes.dlopen": "loading a C library", "ctypes.dlsym": "C calls",
    "ctypes.cdata": "raw memory access", "ctypes.call_function": "C calls", "os.chdir": "changing directory",
    "builtins.input": "reading from the keyboard", "sys.remote_exec": "remote execution",
}
PATH_READ_EVENTS = {"os.listdir", "os.scandir", "glob.glob", "os.walk"}
PATH_WRITE_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink",
                     "os.link", "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _under(path, roots):
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def install_guard(read_roots, write_roots, deny_roots):
    """The audit hook: PermissionError for what the docstring of this module lists."""
    busy = threading.local()

    def resolve(p):
        p = os.fsdecode(p)
        return os.path.realpath(p if os.path.isabs(p) else os.path.join(os.getcwd(), p))

    def hook(event, args):
        if getattr(busy, "on", False):
            return
        busy.on = True
        try:
            if event in DENIED_EVENTS:
                raise PermissionError(f"not allowed while grading: {DENIED_EVENTS[event]} ({event})")
            if event == "open":
                path, mode, flags = args
                if path is None or isinstance(path, int):
                    return
                write = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                        (isinstance(flags, int) and flags > 0 and bool(flags & WRITE_FLAGS))
                check(resolve(path), write)
            elif event in PATH_READ_EVENTS and args and isinstance(args[0], (str, bytes, os.PathLike)):
                check(resolve(args[0]), False)
            elif event in PATH_WRITE_EVENTS and args and isinstance(args[0], (str, bytes, os.PathLike)):
                check(resolve(args[0]), True)
        finally:
            busy.on = False

    def check(path, write):
        if _under(path, deny_roots) or not _under(path, write_roots if write else read_roots + write_roots):
            what = "writing" if write else "reading"
            raise PermissionError(f"{what} {os.path.basename(path) or path!r} is not allowed while grading: "
                                  f"your code may read only its own folder and write only its working directory")

    sys.addaudithook(hook)


def encode(value, arrays, depth=0):
    """A JSON description of ``value``; arrays go into ``arrays`` (saved without pickle)."""
    if depth > 6:
        return {"t": "other", "type": "deeply nested value"}
    if value is None:
        return {"t": "none"}
    module = type(value).__module__ or ""
    if module.startswith("torch") and hasattr(value, "detach"):
        try:
            t = value.detach().cpu()
            kind = str(t.dtype).replace("torch.", "")
            if kind == "bfloat16":
                t = t.float()
            value = t.numpy()
        except Exception as exc:  # noqa: BLE001
            return {"t": "other", "type": f"torch tensor that could not be read ({exc})"[:200]}
    import numpy as np

    if isinstance(value, (np.ndarray, np.generic)):
        value = np.asarray(value)
        if value.dtype.hasobject or value.dtype.kind not in "biufc":
            return {"t": "other", "type": f"numpy array of dtype {value.dtype}"}
        if value.size > 10_000_000:
            return {"t": "other", "type": f"array of {value.size} entries (too large)"}
        key = f"a{len(arrays)}"
        arrays[key] = np.ascontiguousarray(value)
        return {"t": "array", "key": key}
    if isinstance(value, bool):
        return {"t": "other", "type": "bool"}
    if isinstance(value, (int, float)):
        return {"t": "scalar", "type": type(value).__name__, "repr": repr(value)[:50]}
    if isinstance(value, (tuple, list)):
        if len(value) > 100:
            return {"t": "other", "type": f"{type(value).__name__} of {len(value)} items"}
        return {"t": type(value).__name__, "items": [encode(v, arrays, depth + 1) for v in value]}
    if isinstance(value, dict):
        if len(value) > 200:
            return {"t": "other", "type": f"dict of {len(value)} items"}
        return {"t": "dict", "items": {str(k)[:100]: encode(v, arrays, depth + 1) for k, v in value.items()}}
    return {"t": "other", "type": type(value).__name__[:100]}


def decode_inputs(tree, arrays):
    kind = tree["t"]
    if kind == "array":
        return arrays[tree["key"]].copy()
    if kind in ("tuple", "list"):
        items = [decode_inputs(v, arrays) for v in tree["items"]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {k: decode_inputs(v, arrays) for k, v in tree["items"].items()}
    return tree.get("value")


def learner_frames(exc, submission_dir):
    """'file, line n, in f: code' for the frames of the learner's own files only."""
    frames = []
    for fs in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(fs.filename).startswith(submission_dir + os.sep):
            frames.append(f"{os.path.basename(fs.filename)}, line {fs.lineno}, in {fs.name}: {(fs.line or '').strip()}")
    return frames[-3:]


def error_record(exc, submission_dir):
    kind = type(exc).__name__
    if isinstance(exc, SystemExit):
        kind = "SystemExit"
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001
        message = "(the exception's message could not be read)"
    return {"t": "error", "type": kind[:100], "message": message[:400], "where": learner_frames(exc, submission_dir)}


def write_json_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def main(job_dir):
    import resource
    import signal

    job = json.load(open(os.path.join(job_dir, "job.json")))
    limit = job["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    cpu = int(job["timeout"]) + 5
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writing too much raises OSError instead of killing
    sys.dont_write_bytecode = True

    import numpy as np

    out_dir = os.path.join(job_dir, "out")
    inputs = np.load(os.path.join(job_dir, "inputs.npz"), allow_pickle=False)
    arrays = {k: inputs[k] for k in inputs.files}
    # The library may be used by learners; import it, then take its parent (the repository) off the path.
    sys.path.insert(0, job["library_parent"])
    for name in job["preload"]:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001, S112
            continue
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or ".") != job["library_parent"]]
    submission_dir = job["submission_dir"]
    sys.path.insert(0, submission_dir)
    install_guard(job["read_roots"], [job["work_dir"], out_dir], job["deny_roots"])

    import importlib.util

    try:
        spec = importlib.util.spec_from_file_location(job["module"], job["file"])
        module = importlib.util.module_from_spec(spec)
        sys.modules[job["module"]] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 (SystemExit too: the learner's module must not end the child)
        write_json_atomic(os.path.join(out_dir, "import.json"), error_record(exc, submission_dir))
        return
    for i in job["pending"]:
        case = job["cases"][i]
        write_json_atomic(os.path.join(out_dir, f"{i}.started"), {})
        args = decode_inputs(case["args"], arrays)
        before = [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in args]
        before_dicts = [{k: np.array(v, copy=True) for k, v in a.items()} if isinstance(a, dict) else None
                        for a in args]
        record = {}
        try:
            func = getattr(module, case["func"], None)
            if not callable(func):
                raise AttributeError(f"{os.path.basename(job['file'])} defines no function {case['func']}")
            value = func(*args)
            out_arrays = {}
            record = {"t": "value", "value": encode(value, out_arrays)}
            np.savez(os.path.join(out_dir, f"{i}.npz"), **out_arrays)
        except BaseException as exc:  # noqa: BLE001
            record = error_record(exc, submission_dir)
        mutated = []
        for k, (a, b) in enumerate(zip(args, before, strict=True)):
            if b is not None and not (isinstance(a, np.ndarray) and a.shape == b.shape
                                      and np.array_equal(a, b, equal_nan=True)):
                mutated.append(case["arg_names"][k])
        for k, (a, b) in enumerate(zip(args, before_dicts, strict=True)):
            if b is not None and any(not np.array_equal(np.asarray(a.get(n)), v, equal_nan=True) for n, v in b.items()):
                mutated.append(case["arg_names"][k])
        record["mutated"] = mutated
        write_json_atomic(os.path.join(out_dir, f"{i}.json"), record)


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # the learner's threads and atexit handlers do not get to run after the cases
