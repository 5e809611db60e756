"""A child process that runs one student's code, fenced in, and answers function calls.

Isolation, strongest first (see `isolation()`):
- "namespaces": as root with util-linux's `unshare` and `setpriv`: private mount, PID and network
  namespaces (no network at all), an empty tmpfs over every hidden path (the course directory with its
  gradebook and other students' folders, the hidden solutions and tests), a private /tmp, and the code
  runs under an unprivileged uid of its own (no capabilities, no new privileges).
- "uid": as root where namespaces are not allowed (a container, e.g. Gradescope's): the unprivileged uid
  only; whoever starts the engine makes the hidden paths unreadable to it (`run_autograder` does).
- "limits": elsewhere, a scratch directory as working directory and a scrubbed environment.
Both get resource limits (address space, CPU seconds, file size, processes) and a wall-clock timeout on
every request; a child that misbehaves is killed with its whole process group (and PID namespace).
"""
import fcntl
import os
import resource
import secrets
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.engine import child as protocol
from autograder.engine.rules import banned_paths
from convbook.tracing import read_count_reply

# Each grading process gives its children a uid of their own, with no home, files or privileges: the
# process limit then binds one student's fork bomb without starving the sandboxes running beside it.
SANDBOX_UID_BASE = 61000
MAX_RESTARTS = 8  # fresh children for one student before the engine gives up
PIPE_BYTES = 1 << 20  # buffer of the pipes to and from the child
WATCH_SECONDS = 1.0   # while the child works, how often the grader counts its processes
CHILD_SCRIPT = Path(protocol.__file__)


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 3 << 30       # address space of the child
    cpu_seconds: int = 600            # CPU time of the child over its whole life
    file_bytes: int = 64 << 20        # largest file it may write
    processes: int = 16               # processes and threads of the sandbox uid (a fork bomb stops there)
    request_seconds: float = 60.0     # wall clock for one request (running the cells, or one call)
    reply_bytes: int = 512 << 20      # largest reply the grader accepts


class SandboxError(Exception):
    """The sandbox itself could not start (not the student's doing): the submission is not graded."""


class ForkBomb(Exception):
    """The child stayed at its process limit."""


class ChildDied(Exception):
    """The child ended, timed out or broke the protocol; the message says which, for the student."""


def isolation():
    """The strongest isolation this process can build: "namespaces", "uid" or "limits"."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        return "limits"
    probe = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "true"],
                           capture_output=True) if shutil.which("unshare") else None
    return "namespaces" if probe is not None and probe.returncode == 0 else "uid"


def _set_limits(limits):
    def apply():
        for name, value in ((resource.RLIMIT_AS, limits.memory_bytes), (resource.RLIMIT_CPU, limits.cpu_seconds),
                            (resource.RLIMIT_FSIZE, limits.file_bytes), (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(name, (value, value))
        # counted per user: it binds the sandbox's uid (root is exempt, so the wrapper runs until setpriv)
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    return apply


def _child_env():
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/mpl",
        # one BLAS thread per child: the engine runs several children side by side
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def _kept_under_tmp(python):
    """Folders under /tmp that the child needs (the interpreter, its venv, this project for convbook).

    The child gets a private /tmp; these are carried over into it. Nested ones are covered by their parent.
    """
    candidates = {Path(python).absolute().parent.parent, Path(python).resolve().parent.parent,
                  Path(sys.base_prefix).resolve(), CHILD_SCRIPT.resolve().parents[2]}
    under = sorted(p for p in candidates if Path("/tmp") in p.parents)
    return [p for p in under if not any(q in p.parents for q in under)]


def _namespace_command(python, hidden, request_fd, reply_fd, uid):
    """unshare + a root shell that hides paths and drops to the sandbox uid before running the child."""
    staging = f"/dev/shm/convbook-child-{secrets.token_hex(8)}.py"  # one per sandbox: several start at once
    q = shlex.quote
    hide = "".join(f"mount -t tmpfs -o size=4k,mode=0755 convbook-hidden {q(str(p))}\n"
                   for p in hidden if Path(p).is_dir())
    hide += "".join(f"mount --bind /dev/null {q(str(p))}\n" for p in hidden if Path(p).is_file())
    # what the child needs from under /tmp goes around the private /tmp (with the hiding mounts inside it)
    kept = _kept_under_tmp(python)
    park = "".join(f"mkdir -p /mnt/convbook-kept/{i}\nmount --rbind {q(str(p))} /mnt/convbook-kept/{i}\n"
                   for i, p in enumerate(kept))
    unpark = "".join(f"mkdir -p {q(str(p))}\nmount --rbind /mnt/convbook-kept/{i} {q(str(p))}\n"
                     for i, p in enumerate(kept))
    script = (
        "set -e\n"
        "mount --make-rprivate /\n"
        f"cp {q(str(CHILD_SCRIPT))} {staging}\n"
        + hide +  # before the private /tmp, which would hide paths under /tmp from the mounts
        ("mount -t tmpfs -o size=1m,mode=0700 convbook-park /mnt\n" + park if kept else "") +
        "mount -t tmpfs -o size=256m,mode=1777 convbook-tmp /tmp\n"
        + unpark +
        f"mv {staging} /tmp/child.py\n"
        "chmod 0644 /tmp/child.py\n"
        "mount -t tmpfs -o size=16m,mode=1777 convbook-shm /dev/shm\n"
        "cd /tmp\n"
        f"exec setpriv --reuid={uid} --regid={uid} --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all "
        f"{q(python)} -I /tmp/child.py {request_fd} {reply_fd}\n"
    )
    return ["unshare", "--mount", "--net", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", script]


def _tasks_of(uid):
    """Threads of all processes owned by `uid`: what RLIMIT_NPROC counts against the sandbox."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            with open(f"/proc/{entry.name}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("Threads:"))
        except (OSError, ValueError, StopIteration):  # the process ended meanwhile
            continue
    return total


def _pipe():
    """os.pipe() with a 1 MiB buffer where allowed: a parameter array then crosses in one write."""
    read_fd, write_fd = os.pipe()
    try:
        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    except OSError:  # above /proc/sys/fs/pipe-max-size for an unprivileged user: keep the default
        pass
    return read_fd, write_fd


def _run_callback(callbacks, request, blobs):
    """Run the grader function the child asked for (on plain data); the reply for the child."""
    fn = callbacks[request["callback"]]
    try:
        result = fn(*protocol.decode(request["args"], blobs), **protocol.decode(request["kwargs"], blobs))
        out = []
        return {"ok": True, "result": protocol.encode(result, out)}, out
    except Exception as exc:  # the student's code called it with arguments it cannot take
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}, []


class Sandbox:
    """One student's code in a child process.

    sandbox = Sandbox(hidden=[course_dir, ...]); sandbox.run_cells([...]); sandbox.call("f", args)
    If the child dies (os._exit, a timeout, a memory bomb), the next request starts a fresh one and
    runs the same cells again first, so that one exercise's crash costs only that exercise.
    """

    def __init__(self, hidden=(), limits=Limits(), python=sys.executable, mode=None, banned=()):
        self.banned = list(banned)   # modules that must not exist in the child (their files are hidden too)
        self.hidden = [Path(p).resolve() for p in hidden] + [Path(p) for p in banned_paths(self.banned)]
        self.secret = secrets.token_bytes(32)   # the key of the line counter's replies (convbook.tracing)
        self.limits = limits
        self.python = python
        self.mode = mode or isolation()
        self.cells, self.cell_results, self.fatal, self.restarts = [], [], {}, 0
        self.fatal_calls = {}  # function name -> why a call to it ended the child
        self.interference = []  # what the line counter's guard saw student code do to it (for the instructor)
        self.proc = None
        self.scratch = None
        self.uid = None  # the child's own uid, when it has one: its processes are counted

    # --- process life --------------------------------------------------------------------------------
    def _start(self):
        request_r, self._request_w = _pipe()
        self._reply_r, reply_w = _pipe()
        self.scratch = tempfile.mkdtemp(prefix="convbook-sandbox-")
        log = open(Path(self.scratch) / "sandbox.log", "w")
        uid = SANDBOX_UID_BASE + os.getpid() % 1000
        self.uid = uid if self.mode in ("namespaces", "uid") else None
        if self.mode == "namespaces":
            cmd = _namespace_command(self.python, self.hidden, request_r, reply_w, uid)
        else:
            shutil.copy(CHILD_SCRIPT, Path(self.scratch) / "child.py")
            os.chmod(Path(self.scratch) / "child.py", 0o644)  # the source may be unreadable to others
            cmd = [self.python, "-I", "child.py", str(request_r), str(reply_w)]
            if self.mode == "uid":  # e.g. in a container: the caller makes the hidden paths unreadable
                os.chown(self.scratch, uid, uid)
                cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                       "--inh-caps=-all", "--bounding-set=-all", *cmd]
        env = _child_env()
        if self.mode != "namespaces":
            env.update(HOME=self.scratch, MPLCONFIGDIR=str(Path(self.scratch) / "mpl"))
        self.proc = subprocess.Popen(
            cmd, cwd=self.scratch, env=env, pass_fds=(request_r, reply_w), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
            preexec_fn=_set_limits(self.limits))
        os.close(request_r)
        os.close(reply_w)
        log.close()
        try:  # the child says hello once it runs; if it cannot start, that is the engine's fault
            protocol.receive(self._reply_r, deadline=time.monotonic() + self.limits.request_seconds)
        except (OSError, EOFError, ValueError, TimeoutError) as exc:
            detail = (Path(self.scratch) / "sandbox.log").read_text()[-2000:]
            self.close()
            raise SandboxError(f"the sandbox did not start ({type(exc).__name__}): {detail}") from exc
        protocol.send(self._request_w, {"secret": self.secret.hex(), "banned": self.banned}, [])

    def close(self):
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            for fd in (self._request_w, self._reply_r):
                os.close(fd)
            self.proc = None
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- requests -----------------------------------------------------------------------------------
    def _request(self, header, blobs=(), callbacks=()):
        """Send one request and return the child's reply, running the grader functions it calls back."""
        deadline = time.monotonic() + self.limits.request_seconds
        try:
            protocol.send(self._request_w, header, list(blobs))
            while True:
                self._wait_for_reply(deadline)
                reply, replies = protocol.receive(self._reply_r, limit=self.limits.reply_bytes, deadline=deadline)
                if "callback" not in reply:
                    return reply, replies
                answer, answer_blobs = _run_callback(callbacks, reply, replies)
                protocol.send(self._request_w, answer, answer_blobs)
        except TimeoutError:
            self.close()
            raise ChildDied(f"it ran for more than {self.limits.request_seconds:g} s (an infinite loop?)") from None
        except ForkBomb:
            self.close()
            raise ChildDied(f"it kept starting processes, up to the limit of {self.limits.processes} "
                            f"(a fork bomb?)") from None
        except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError) as exc:
            reason = self._death_reason() or f"it broke the grading protocol ({type(exc).__name__})"
            self.close()
            raise ChildDied(reason) from exc

    def _wait_for_reply(self, deadline):
        """Return once the child has written something; TimeoutError past `deadline`. A child that
        stays at its process limit (a fork bomb) raises ForkBomb after two checks instead of spinning
        until the deadline."""
        at_limit = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if select.select([self._reply_r], [], [], min(left, WATCH_SECONDS))[0]:
                return
            if self.uid is not None and _tasks_of(self.uid) >= self.limits.processes:
                at_limit += 1
                if at_limit == 2:
                    raise ForkBomb
            else:
                at_limit = 0

    def _death_reason(self):
        try:
            code = self.proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            return None
        if code < 0 or code > 128:
            number = -code if code < 0 else code - 128
            name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
            hint = {"SIGKILL": " (killed: out of memory, or the process was killed)",
                    "SIGXCPU": " (CPU time limit)", "SIGXFSZ": " (file size limit)"}.get(name, "")
            return f"the Python process running your code ended with signal {name}{hint}"
        return f"the Python process running your code exited with code {code} (sys.exit or os._exit?)"

    def _ensure_started(self):
        """Start the child if needed and run the cells, skipping those that ended an earlier child."""
        while self.proc is None:
            if self.restarts > MAX_RESTARTS:
                raise ChildDied(f"your code ended the grading process {self.restarts} times; grading stopped")
            self.restarts += 1
            self._start()
            for index, source in enumerate(self.cells):
                if index in self.fatal:
                    continue
                try:
                    header, _ = self._request({"op": "run", "cells": [source]})
                except ChildDied as exc:
                    self.fatal[index] = str(exc)
                    break
                self.cell_results[index] = header["cells"][0]
        for index, reason in self.fatal.items():
            self.cell_results[index] = {"ok": False, "error": f"this cell was skipped: {reason}", "stdout": ""}

    def run_cells(self, cells):
        """Run the student's code cells in order; returns [{"ok", "error", "stdout"}] per cell.

        A cell that ends the child (os._exit, a timeout, a memory bomb) is skipped from then on.
        """
        self.cells = list(cells)
        self.cell_results = [None] * len(self.cells)
        self.fatal = {}
        self.restarts = 0
        self._ensure_started()
        return self.cell_results

    def count_lines(self, name, args, skip=()):
        """Run `name` on `args` in the child under the guard's line counter (convbook.tracing).

        Returns {"ok", "total", "per_line": {(function, line): n}, "reference_calls", "interference",
        "result", "error"}; a reply that is not the guard's own (forged, replayed) is {"ok": False,
        "error", "interference": [why]}.
        """
        self._ensure_started()
        blobs, callbacks = [], []
        tree = protocol.encode(list(args), blobs, callbacks)
        nonce = secrets.token_hex(16)
        header, _ = self._request({"op": "count_lines", "name": name, "args": tree, "skip": list(skip),
                                   "nonce": nonce}, blobs, callbacks)
        counts, problem = read_count_reply(header, self.secret, nonce)
        if problem is not None:
            return {"ok": False, "error": f"the loop rule could not be measured: {problem}",
                    "interference": [problem]}
        return counts

    def call(self, name, args, kwargs=None):
        """Call the student's function `name` on `args` and `kwargs` in the child.

        Returns the reply: {"ok": True, "result", "args_after", "stdout"} or {"ok": False, "error"}.
        Raises ChildDied if the call ended the child (the next call starts a fresh one).
        """
        if name in self.fatal_calls:
            return {"ok": False, "error": f"{name} is not called again: an earlier call ended the process "
                                          f"({self.fatal_calls[name]})"}
        self._ensure_started()
        blobs, callbacks = [], []
        trees = {"args": protocol.encode(list(args), blobs, callbacks),
                 "kwargs": protocol.encode(dict(kwargs or {}), blobs, callbacks)}
        try:
            header, replies = self._request({"op": "call", "name": name, **trees}, blobs, callbacks)
        except ChildDied as exc:
            self.fatal_calls[name] = str(exc)
            raise
        if header.get("ok"):
            header["result"] = protocol.decode(header["result"], replies)
            if header.get("args_after") is not None:
                header["args_after"] = protocol.decode(header["args_after"], replies)
        return header
