"""The learner's side of the sandbox: run one exercise's cases and report what they returned.

Started by :mod:`vit_lessons.grading.sandbox` as ``python -I -S _child.py JOB_DIR WORK_DIR FD GO [UID GID]``
(inside bubblewrap and/or as a sandbox user, see :mod:`vit_lessons.grading.isolation`).  This file and
``protocol.py`` / ``forbidden.py`` / ``deny_torch.py`` are copied into the job folder; it imports nothing
else of the grader, and imports those three as the private package ``_vit_grader_child`` (never under
their own names, so that a learner's ``protocol.py`` neither shadows them nor is shadowed by them).  In
order, before any of the learner's code runs:

0. wait for the grader's word on GO (it puts this process in the exercise's control group first);
1. drop to UID/GID when given (inside bubblewrap, started as root with only the setuid capabilities), and
   check that no capability is left; a seccomp filter (:func:`seccomp_program`) refuses new user
   namespaces, memfd, System V IPC and POSIX message queues to this process and all it starts;
2. limits: address space, CPU time, file size, open files, processes (per user: only with a sandbox
   user), no core files;
3. the forbidden-call reading of the copied submission (``forbidden.scan``): refused code is never
   imported (parsing hostile source happens here, inside the boundary, never in the grader);
   then the import path: the Python installation (without ``site``, so no ``.pth`` hooks), the staged
   library (its forbidden functions already replaced, see :mod:`vit_lessons.grading.staging`) and the
   copied submission;
4. the exercise's modules preloaded (and the packages that the exercise's file and the helpers it imports
   import, but never a package the exercise forbids whole: torch in exercise 10), torch's forbidden
   functions denied (``deny_torch.py``); the packages the exercise forbids blocked (and removed, should
   the library have imported one), and torch blocked too when the exercise denies some of it and the
   submission never imports it;
5. an audit hook (PEP 578) that refuses reading outside those folders, writing outside WORK_DIR,
   starting processes, sockets and ctypes: a tripwire with friendly messages, not the boundary (code
   in this process can reach it); the boundary is the user, the namespaces and the limits.

Every case is reported on FD with :func:`protocol.send` ("started", then "result"); stdout and stderr
go to pipes that the grader reads up to a cap.  Inputs come from ``JOB_DIR/inputs.npz`` (no pickle).
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
    "sys.setprofile": "tracing the grader", "sys.settrace": "tracing the grader",
}
PATH_READ_EVENTS = {"os.listdir", "os.scandir", "glob.glob", "os.walk"}
PATH_WRITE_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.symlink",
                     "os.link", "os.truncate", "os.utime", "shutil.rmtree", "shutil.copyfile", "shutil.move"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _under(path, roots):
    return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)


def install_guard(read_roots, write_roots):
    """The audit hook: PermissionError for what the docstring of this module lists."""
    busy = threading.local()

    def resolve(p):
        p = os.fsdecode(p)
        return os.path.realpath(p if os.path.isabs(p) else os.path.join(os.getcwd(), p))

    def check(path, write):
        if not _under(path, write_roots if write else read_roots + write_roots):
            what = "writing" if write else "reading"
            raise PermissionError(f"{what} {os.path.basename(path) or path!r} is not allowed while grading: "
                                  f"your code may read only its own folder and write only its working directory")

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

    sys.addaudithook(hook)


#: the private package the grader's support modules are imported as (see :func:`load_support`)
PACKAGE = "_vit_grader_child"
#: what the learner's results may take on the pipe in all, kept below the grader's cap (64 MB)
RESULT_BYTES = 48 << 20


class Sent:
    """What :func:`encode` has sent of one case so far, against the protocol's limits (so that the child never
    writes a frame the grader refuses: a malformed frame costs every case of the exercise)."""

    def __init__(self, protocol, total_bytes):
        self.protocol, self.nodes, self.total_bytes = protocol, protocol.MAX_NODES - 1, total_bytes  # the root


def _array(value, arrays, sent):
    """The TREE of one numpy array: sent as it is, in a dtype the protocol accepts (longdouble as float64,
    clongdouble as complex128, the original dtype named), or described when it cannot be sent."""
    import numpy as np

    value = np.asarray(value)
    protocol = sent.protocol
    if value.dtype.hasobject or value.dtype.kind not in "biufc":
        return {"t": "other", "type": f"numpy array of dtype {value.dtype}"}
    if value.size > 10_000_000 or sent.total_bytes[0] + value.nbytes > RESULT_BYTES:
        return {"t": "other", "type": f"array of {value.size} entries (too large)"}
    if value.ndim > protocol.MAX_NDIM or len(arrays) >= protocol.MAX_ARRAYS:
        return {"t": "other", "type": f"array of {value.ndim} dimensions" if value.ndim > protocol.MAX_NDIM
                else f"more than {protocol.MAX_ARRAYS} arrays in one result"}
    little = value.dtype.newbyteorder("<")
    tree = {"t": "array"}
    if little.str not in protocol.DTYPES:  # float128, complex256 ...: the nearest dtype the grader reads
        tree["sent"] = str(value.dtype)
        little = np.dtype("<c16" if value.dtype.kind == "c" else "<f8")
    arrays.append(np.require(value, dtype=little, requirements="C"))  # a 0-d array stays 0-d
    sent.total_bytes[0] += arrays[-1].nbytes
    tree["key"] = len(arrays) - 1
    return tree


def encode(value, arrays, sent, depth=0):
    """A protocol TREE describing ``value``; arrays are appended to ``arrays`` (sent as raw bytes).  The node
    of ``value`` itself is already counted in ``sent.nodes``; a container's items are counted before they
    are encoded, and one that would take the tree past the protocol's size is described instead."""
    if depth > 6:
        return {"t": "other", "type": "deeply nested value"}
    if value is None:
        return {"t": "none"}
    module = type(value).__module__ or ""
    if module.startswith("torch") and hasattr(value, "detach"):
        try:
            t = value.detach().cpu()
            if str(t.dtype) == "torch.bfloat16":
                t = t.float()
            value = t.numpy()
        except Exception as exc:  # noqa: BLE001
            return {"t": "other", "type": f"torch tensor that could not be read ({exc})"[:200]}
    import numpy as np

    if isinstance(value, (np.ndarray, np.generic)):
        return _array(value, arrays, sent)
    if isinstance(value, bool):
        return {"t": "other", "type": "bool"}
    if isinstance(value, (int, float)):
        return {"t": "scalar", "type": type(value).__name__, "repr": repr(value)[:50]}
    if isinstance(value, (tuple, list, dict)):
        kind = "dict" if isinstance(value, dict) else type(value).__name__
        if len(value) > (200 if kind == "dict" else 100) or len(value) > sent.nodes:
            return {"t": "other", "type": f"{kind} of {len(value)} items (too large to send)"}
        sent.nodes -= len(value)
        if kind == "dict":
            return {"t": "dict", "items": {str(k)[:100]: encode(v, arrays, sent, depth + 1) for k, v in value.items()}}
        return {"t": kind, "items": [encode(v, arrays, sent, depth + 1) for v in value]}
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
            code = (fs.line or "").strip()[:300]  # the grader cuts it after a token (protocol.shorten)
            frames.append(f"{os.path.basename(fs.filename)}, line {fs.lineno}, in {fs.name}: {code}")
    return frames[-3:]


def error_record(exc, submission_dir):
    kind = "SystemExit" if isinstance(exc, SystemExit) else type(exc).__name__
    try:
        message = str(exc)
    except Exception:  # noqa: BLE001
        message = "(the exception's message could not be read)"
    return {"t": "error", "type": kind[:100], "message": message[:400], "where": learner_frames(exc, submission_dir)}


class Blocker:
    """A finder that refuses to import the packages (or modules, "scipy.signal") it was given, each with its
    message (not ``None`` in ``sys.modules``, which libraries such as array_api_compat would take for a loaded
    module)."""

    def __init__(self, blocked):
        self.blocked = blocked

    def find_spec(self, name, path=None, target=None):
        for blocked, message in self.blocked.items():
            if name == blocked or name.startswith(blocked + "."):
                raise ImportError(message)
        return None


def unload(blocked):
    """Remove from ``sys.modules`` every module of the packages ``blocked`` that something loaded (the library
    should never import them; a module that did would have brought them in); returns their names."""
    gone = [n for n in list(sys.modules) if any(n == b or n.startswith(b + ".") for b in blocked)]
    for name in gone:
        del sys.modules[name]
    return gone


def drop_privileges(uid, gid):
    """Become the sandbox user for good (real, effective and saved ids; no supplementary groups), with no
    capability left (checked)."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (gid, gid, gid):
        raise SystemExit("the sandbox user could not be taken")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise SystemExit("the sandbox user could take root back")
    import ctypes

    header, sets = (ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)()  # capset v3: all sets empty
    ctypes.CDLL(None, use_errno=True).capset(header, sets)  # the inheritable set bubblewrap left
    with open("/proc/self/status") as f:
        caps = {k: v.strip() for k, v in (line.split(":", 1) for line in f if line.startswith("Cap"))}
    if any(int(caps.get(k, "1"), 16) for k in ("CapEff", "CapPrm", "CapInh", "CapAmb")):
        raise SystemExit(f"the learner's process kept capabilities: {caps}")


#: seccomp: architecture (platform.machine()) -> (AUDIT_ARCH, {syscall: number}); see deny_syscalls
SYSCALLS = {
    "x86_64": (0xC000003E, {"clone": 56, "unshare": 272, "clone3": 435, "setns": 308, "memfd_create": 319,
                            "shmget": 29, "semget": 64, "msgget": 68, "mq_open": 240, "open_by_handle_at": 304}),
    "aarch64": (0xC00000B7, {"clone": 220, "unshare": 97, "clone3": 435, "setns": 268, "memfd_create": 279,
                             "shmget": 194, "semget": 190, "msgget": 186, "mq_open": 180, "open_by_handle_at": 265}),
}
CLONE_NEWUSER = 0x10000000


def seccomp_program(arch, numbers):
    """A classic BPF program: other architectures' and x32 calls refused; clone3 ENOSYS (the C library
    falls back to clone, whose flags can be read); clone and unshare with CLONE_NEWUSER, setns, memfd,
    System V IPC, POSIX message queues and open_by_handle_at refused with EPERM; everything else allowed."""
    import struct

    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, eperm), (ld, 0, 0, 0)]
    if arch == SYSCALLS["x86_64"][0]:
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, eperm)]
    prog += [(jeq, 0, 1, numbers["clone3"]), (ret, 0, 0, enosys)]
    for name in ("setns", "memfd_create", "shmget", "semget", "msgget", "mq_open", "open_by_handle_at"):
        prog += [(jeq, 0, 1, numbers[name]), (ret, 0, 0, eperm)]
    for name in ("clone", "unshare"):  # flags are the first argument of both (its low 32 bits at offset 16)
        prog += [(jeq, 0, 4, numbers[name]), (ld, 0, 0, 16), (jset, 0, 1, CLONE_NEWUSER), (ret, 0, 0, eperm),
                 (ret, 0, 0, allow)]
    prog.append((ret, 0, 0, allow))
    return b"".join(struct.pack("=HBBI", *ins) for ins in prog), len(prog)


def deny_syscalls():
    """Install :func:`seccomp_program` (with no-new-privileges) for this process and all it starts, then
    check that a user namespace cannot be made; False on an architecture it does not know."""
    import ctypes
    import platform

    if not sys.platform.startswith("linux") or platform.machine() not in SYSCALLS:
        return False
    code, length = seccomp_program(*SYSCALLS[platform.machine()])
    buffer = ctypes.create_string_buffer(code)

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    program = Program(length, ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(program), 0, 0) != 0:  # NO_NEW_PRIVS,
        raise SystemExit(f"the seccomp filter could not be installed (errno {ctypes.get_errno()})")  # SECCOMP
    if libc.unshare(CLONE_NEWUSER) == 0:
        raise SystemExit("a user namespace could still be made")
    return True


def set_limits(job):
    import resource
    import signal

    memory = job["memory_mb"] << 20
    cpu = int(job["timeout"]) + 5
    limits = {"RLIMIT_AS": memory, "RLIMIT_FSIZE": job["file_bytes"], "RLIMIT_CORE": 0, "RLIMIT_CPU": cpu,
              "RLIMIT_NOFILE": 256}
    if job["max_processes"]:
        limits["RLIMIT_NPROC"] = job["max_processes"]
    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writing too much raises OSError instead of killing


def prepare_imports(job, modules, support):
    """The import path and the modules loaded before the learner's code (the exercise's, and the packages
    of ``modules``, those the exercise's file and its helpers import, that may be loaded, but none the
    exercise forbids whole); torch's denials applied, the forbidden packages blocked."""
    job_dir = support["job_dir"]
    sys.path[:] = [p for p in job["python_path"] if os.path.isdir(p)]
    sys.path.insert(0, os.path.join(job_dir, "lib"))
    number = job["exercise"]
    blocked = {name: f"{name} is not allowed in exercise {number}: write it yourself ({why})"
               for name, why in job["blocked"]}
    wanted = [*job["preload"], *(m for m in modules if m in job["preload_allowed"])]
    for name in dict.fromkeys(wanted):
        if any(name == b or name.startswith(b + ".") for b in blocked):
            continue
        try:
            __import__(name)
        except Exception:  # noqa: BLE001, S112 - the learner's import will say what is wrong
            continue
    unload(blocked)
    if job["torch_denied"] and "torch" not in blocked:
        if "torch" in sys.modules:
            support["deny_torch"]().deny(job["torch_denied"], number)
        else:  # never imported by the submission's files: it stays out, denials and all
            blocked["torch"] = (f"torch cannot be imported this way in exercise {number}: import it with an import "
                                f"statement in your file (the grader loads it only then)")
    sys.meta_path.insert(0, Blocker(blocked))
    sys.path.insert(0, os.path.join(job_dir, "submission"))


def load_support(job_dir):
    """The grader's modules copied beside this script, imported as the package ``_vit_grader_child`` (its
    path the child folder, never on ``sys.path``): {"protocol": module, "forbidden": module, "deny_torch":
    a function that imports deny_torch when torch is to be denied, "job_dir": job_dir}."""
    import importlib
    import types

    package = types.ModuleType(PACKAGE)
    package.__path__ = [os.path.join(job_dir, "child")]
    sys.modules[PACKAGE] = package
    return {"protocol": importlib.import_module(PACKAGE + ".protocol"),
            "forbidden": importlib.import_module(PACKAGE + ".forbidden"),
            "deny_torch": lambda: importlib.import_module(PACKAGE + ".deny_torch"), "job_dir": job_dir}


def _fits(record, out_arrays, protocol):
    """Whether a case's frame stays within the protocol's header size."""
    specs = [{"dtype": a.dtype.str, "shape": list(a.shape)} for a in out_arrays]
    header = {"kind": "result", "case": 0, "record": record, "arrays": specs}
    return len(json.dumps(header, separators=(",", ":"))) < protocol.MAX_HEADER - 1024


def run_case(module, case, arrays, submission_dir, sent):
    """(record, output arrays) of one case: the value returned or the error raised, and mutated inputs;
    ``sent`` (a :class:`Sent`) keeps the frame within what the protocol accepts."""
    import numpy as np

    args = decode_inputs(case["args"], arrays)
    before = [np.array(a, copy=True) if isinstance(a, np.ndarray) else None for a in args]
    before_dicts = [{k: np.array(v, copy=True) for k, v in a.items()} if isinstance(a, dict) else None for a in args]
    out_arrays = []
    try:
        func = getattr(module, case["func"], None)
        if not callable(func):
            raise AttributeError(f"{module.__name__}.py defines no function {case['func']}")
        value = func(*args)
        out_arrays = []
        record = {"t": "value", "value": encode(value, out_arrays, sent)}
    except BaseException as exc:  # noqa: BLE001 (SystemExit too: the learner's code must not end the child)
        record, out_arrays = error_record(exc, submission_dir), []
    mutated = []
    for k, (a, b) in enumerate(zip(args, before, strict=True)):
        if b is not None and not (isinstance(a, np.ndarray) and a.shape == b.shape
                                  and np.array_equal(a, b, equal_nan=True)):
            mutated.append(case["arg_names"][k])
    for k, (a, b) in enumerate(zip(args, before_dicts, strict=True)):
        if b is not None and any(not np.array_equal(np.asarray(a.get(n)), v, equal_nan=True) for n, v in b.items()):
            mutated.append(case["arg_names"][k])
    record["mutated"] = mutated
    if not _fits(record, out_arrays, sent.protocol):
        record, out_arrays = {"t": "value", "value": {"t": "other", "type": "value too large to describe"},
                              "mutated": mutated}, []
    return record, out_arrays


def main(job_dir, work_dir, fd, go, uid=None, gid=None):
    if os.read(go, 1) != b"1":  # the grader has put this process in its control group (or failed)
        raise SystemExit("the grader did not start this job")
    os.close(go)
    if uid is not None:
        drop_privileges(int(uid), int(gid))
    deny_syscalls()
    with open(os.path.join(job_dir, "job.json")) as f:
        job = json.load(f)
    set_limits(job)
    sys.dont_write_bytecode = True
    support = load_support(job_dir)
    protocol, forbidden = support["protocol"], support["forbidden"]
    submission_dir = os.path.join(job_dir, "submission")
    rules = [forbidden.Rule(r[0], tuple(r[1]), r[2], bool(r[3])) for r in job["rules"]]
    found = forbidden.scan(submission_dir, job["file"], rules)
    if found["error"] or found["violations"]:  # before any of the learner's code is imported
        protocol.send(fd, {"kind": "refused", "record": {"t": "refused", "error": found["error"],
                                                         "violations": found["violations"][:50]}})
        return
    prepare_imports(job, found["modules"], support)
    import numpy as np

    with np.load(os.path.join(job_dir, "inputs.npz"), allow_pickle=False) as inputs:
        arrays = [inputs[f"a{i}"] for i in range(len(inputs.files))]
    install_guard([os.path.realpath(p) for p in job["read_roots"]] + [job_dir],
                  [os.path.realpath(work_dir), "/dev/null"])

    import importlib.util

    try:
        spec = importlib.util.spec_from_file_location(job["module"], os.path.join(submission_dir, job["file"]))
        module = importlib.util.module_from_spec(spec)
        sys.modules[job["module"]] = module
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001 (SystemExit too: the learner's module must not end the child)
        protocol.send(fd, {"kind": "import_error", "record": error_record(exc, submission_dir)})
        return
    total_bytes = [0]
    for i in job["pending"]:
        protocol.send(fd, {"kind": "started", "case": i})
        record, out_arrays = run_case(module, job["cases"][i], arrays, submission_dir, Sent(protocol, total_bytes))
        protocol.send(fd, {"kind": "result", "case": i, "record": record}, out_arrays)


if __name__ == "__main__":
    status = 0
    try:
        main(*sys.argv[1:3], int(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:7])
    except BaseException:  # noqa: BLE001 - the child itself failed (before or between the learner's cases)
        traceback.print_exc()
        status = 3
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)  # the learner's threads and atexit handlers do not get to run after the cases
