"""A child process that runs one student's code, fenced in, and answers function calls.

Isolation, strongest first (see `isolation()`; $CONVBOOK_SANDBOX_MODE may ask for a weaker one):
- "namespaces": as root with util-linux's `unshare` and `setpriv`: private mount, PID, IPC and network
  namespaces (no network at all; System V objects die with the child), and a root of its own built from
  an allow-list (`view_paths`, banned libraries left out: `absent_mounts`): the system's programs and
  libraries, the interpreter's prefix, its venv and the convbook package, all read-only; a size-bounded
  tmpfs as /tmp (also HOME) and /dev/shm, discarded with the namespace. Nothing else of the host or
  the checkout exists for the child, whatever folders are there. The code runs under an unprivileged
  uid of its own (no capabilities, no new privileges).
- "uid": as root where namespaces are not allowed (a container, e.g. Gradescope's): a fresh unprivileged
  uid per submission, a private 0700 scratch directory as working directory and HOME; whoever starts the
  engine makes the hidden paths unreadable to it (`run_autograder` does). The child can still read what
  is world-readable on the host and write to world-writable folders: after the submission every process
  of its uid is killed (until none is left) and every file and System V IPC object it owns is deleted.
- "limits": elsewhere, a scratch directory as working directory and a scrubbed environment.
All get resource limits (address space, CPU seconds, file size, processes), a wall-clock timeout on
every request and a wall-clock budget for the whole submission; replies and the grader's own functions
the child calls back are bounded in size and time. A child that misbehaves is killed with its whole
process group (and PID namespace, and uid).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import resource
import secrets
import select
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.engine import child as protocol
from autograder.engine.rules import banned_paths
from convbook.tracing import arrays_in, read_count_reply, seal

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

# Each sandbox gets a uid of its own, with no home, files or privileges, never shared with a sandbox
# running beside it nor with the previous submission of the same worker (see `_fresh_uid`): the process
# limit then binds one student's fork bomb alone, and whatever a student left running or lying around
# belongs to a uid that is swept before the next student starts.
SANDBOX_UID_BASE = 61000
UIDS_PER_PROCESS = 64
MODE_VARIABLE = "CONVBOOK_SANDBOX_MODE"
MODES = ("namespaces", "uid", "limits")   # strongest first
MAX_RESTARTS = 8  # fresh children for one student before the engine gives up
PIPE_BYTES = 1 << 20  # buffer of the pipes to and from the child
WATCH_SECONDS = 1.0   # while the child works, how often the grader counts its processes
CHILD_SCRIPT = Path(protocol.__file__)
MAX_ERROR_CHARS = 2000  # characters of an error message from the child (or about its arguments)
# What the child's root holds besides the interpreter, its venv and convbook (only those that exist).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d")
DEVICES = ("null", "zero", "full", "random", "urandom")
# World-writable folders a child in "uid" mode can leave files in (swept after each submission).
SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 3 << 30       # address space of the child
    cpu_seconds: int = 600            # CPU time of the child over its whole life
    file_bytes: int = 64 << 20        # largest file it may write
    scratch_bytes: int = 256 << 20    # its private /tmp (namespaces mode)
    processes: int = 16               # processes and threads of the sandbox uid (a fork bomb stops there)
    request_seconds: float = 60.0     # wall clock for one request (running the cells, or one call)
    submission_seconds: float = 600.0  # wall clock for the whole submission, checks included
    header_bytes: int = 4 << 20       # largest JSON header of one message from the child
    reply_bytes: int = 64 << 20       # largest arrays of one message from the child, in all
    callback_bytes: int = 8 << 20     # largest arrays the child may pass to one of the grader's functions
    callback_seconds: float = 10.0    # wall clock for one call of a grader's function


class SandboxError(Exception):
    """The sandbox itself could not start (not the student's doing): the submission is not graded."""


class ForkBomb(Exception):
    """The child stayed at its process limit."""


class ChildDied(Exception):
    """The child ended, timed out or broke the protocol; the message says which, for the student."""


class OutOfTime(ChildDied):
    """The submission used up its wall-clock budget: nothing more of it runs."""


def isolation() -> str:
    """The isolation to use: the strongest this process can build ("namespaces", "uid" or "limits"), or
    a weaker one if $CONVBOOK_SANDBOX_MODE asks for it (never a stronger one)."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        best = "limits"
    else:
        probe = subprocess.run(["unshare", "--mount", "--net", "--ipc", "--pid", "--fork", "--mount-proc", "true"],
                               capture_output=True, check=False) if shutil.which("unshare") else None
        best = "namespaces" if probe is not None and probe.returncode == 0 else "uid"
    wanted = os.environ.get(MODE_VARIABLE, "")
    return wanted if wanted in MODES and MODES.index(wanted) >= MODES.index(best) else best


_uids_used = 0


def _fresh_uid() -> int:
    """A uid no other live grading process hands out (its pid picks the block) and not the one of this
    process's previous sandboxes (a counter walks the block; each uid is swept clean before reuse)."""
    global _uids_used
    _uids_used += 1
    return SANDBOX_UID_BASE + os.getpid() * UIDS_PER_PROCESS + _uids_used % UIDS_PER_PROCESS


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


def student_package() -> Path:
    """The convbook package folder (what students import), found without importing it."""
    import importlib.util

    return Path(importlib.util.find_spec("convbook").submodule_search_locations[0]).resolve()


def view_paths(python: str) -> list[Path]:
    """Everything of the host the child sees (read-only), in namespaces mode: the system's programs and
    libraries, the interpreter's prefix, its venv (if `python` is in one) and the convbook package.
    Paths inside another one of the list are left out (the outer one carries them)."""
    interpreter = Path(python).absolute()
    paths = {Path(p) for p in SYSTEM_PATHS if os.path.lexists(p)}
    paths |= {interpreter.resolve().parent.parent, student_package()}
    if (interpreter.parent.parent / "pyvenv.cfg").is_file():
        paths.add(interpreter.parent.parent)
    return sorted(p for p in paths if not any(q in p.parents for q in paths if not q.is_symlink()))


def _tool(name):
    """The absolute path of a system program (sbin included, whatever $PATH says)."""
    return shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin") or name


def absent_mounts(absent: Iterable[Path | str], view: list[Path]) -> list[str]:
    """Shell lines (for `_namespace_command`, root in "$R") that make the files and folders `absent` not
    exist in the child's view: a banned folder is covered by an empty read-only tmpfs, and the folder
    holding a banned file is rebuilt from its other entries (bound read-only; its __pycache__ left out).
    Paths outside the `view` are not there anyway."""
    q = shlex.quote
    lines = []
    absent = [Path(os.path.realpath(p)) for p in absent]
    inside = [p for p in absent if any(p == v or v in p.parents for v in view)]
    folders = [p for p in inside if p.is_dir()]
    inside = [p for p in inside if not any(d in p.parents for d in folders)]   # scipy.signal inside scipy: gone already
    for folder in (p for p in inside if p.is_dir()):
        lines.append(f'mount -t tmpfs -o size=4k,mode=0555,ro convbook-absent "$R"{q(str(folder))}')
    files = [p for p in inside if not p.is_dir() and not any(d in p.parents for d in inside if d.is_dir())]
    for parent in sorted({p.parent for p in files}):
        target = '"$R"' + q(str(parent))
        lines.append(f"mount -t tmpfs -o size=64k,mode=0755 convbook-without {target}")
        for entry in sorted(parent.iterdir()):
            if entry in files or entry.name == "__pycache__" or entry.is_symlink():
                continue
            place = target + "/" + q(entry.name)
            lines += [f"mkdir {place}" if entry.is_dir() else f"touch {place}",
                      f"mount --rbind {q(str(entry))} {place}", f"mount -o remount,bind,ro {place}"]
        lines.append(f"mount -o remount,ro {target}")
    return lines


def _namespace_command(python, root, request_fd, reply_fd, uid, limits, absent=()):
    """unshare + a root shell that builds the child's own root in `root` (an empty directory) from the
    allow-list (without the `absent` paths: banned libraries), then chroots into it and drops to the
    sandbox uid before running the child."""
    q = shlex.quote
    lines = ["set -e", "mount --make-rprivate /", f"R={q(str(root))}",
             'mount -t tmpfs -o size=4m,mode=0755 convbook-root "$R"',
             # the scratch first: view paths under /tmp (a checkout there) are bound inside it
             'mkdir "$R/tmp" "$R/proc" "$R/dev"',
             f'mount -t tmpfs -o size={limits.scratch_bytes},mode=1777 convbook-scratch "$R/tmp"']
    for path in view_paths(python):
        inside = '"$R"' + q(str(path))
        lines.append(f"mkdir -p \"$(dirname {inside})\"")
        if path.is_symlink():
            lines.append(f"ln -s {q(os.readlink(path))} {inside}")
            continue
        lines.append(f"mkdir -p {inside}" if path.is_dir() else f"touch {inside}")
        lines.append(f"mount --rbind {q(str(path))} {inside}")
        lines.append(f"mount -o remount,bind,ro {inside}")
    lines += absent_mounts(absent, view_paths(python))
    lines += ['mkdir "$R/dev/shm"',
              'mount -t tmpfs -o size=16m,mode=1777 convbook-shm "$R/dev/shm"',
              'mount -t proc proc "$R/proc"',
              'ln -s /proc/self/fd "$R/dev/fd"']
    for device in DEVICES:
        lines += [f'touch "$R/dev/{device}"', f'mount --bind /dev/{device} "$R/dev/{device}"']
    lines += [f'cp {q(str(CHILD_SCRIPT))} "$R/tmp/child.py"', 'chmod 0644 "$R/tmp/child.py"',
              'mount -o remount,ro "$R"',
              (f'exec {q(_tool("chroot"))} "$R" {q(_tool("setpriv"))} --reuid={uid} --regid={uid} --clear-groups '
               f'--no-new-privs --inh-caps=-all --bounding-set=-all {q(_tool("env"))} -C /tmp '
               f'{q(str(Path(python).absolute()))} -I /tmp/child.py {request_fd} {reply_fd} '
               f'{q(str(student_package().parent))}')]
    return ["unshare", "--mount", "--net", "--ipc", "--pid", "--fork", "--mount-proc", "--kill-child",
            "sh", "-c", "\n".join(lines) + "\n"]


def _processes_of(uid):
    """Pids of the live (not zombie) processes whose real, effective or saved uid is `uid`."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:  # the process ended meanwhile
            continue
        if fields.get("State", "").strip().startswith(("Z", "X")):
            continue
        if str(uid) in fields.get("Uid", "").split()[:3]:
            found.append(int(entry.name))
    return found


def end_processes_of(uid: int, rounds: int = 200) -> bool:
    """Kill every process of `uid`, detached ones included, until none is left; True if none is.

    A helper process takes the uid and sends SIGKILL to every process it may signal (kill(-1)): that is
    exactly the processes of the uid, whatever their session, group or parent, and none can refuse it.
    """
    for _ in range(rounds):
        if not _processes_of(uid):
            return True
        pid = os.fork()
        if pid == 0:  # the helper: never returns
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.01)
    return not _processes_of(uid)


def remove_files_of(uid: int, folders: Iterable[str] = SHARED_WRITABLE) -> int:
    """Delete whatever `uid` owns under the world-writable `folders`; the number of entries removed.

    Only folders `uid` could enter are searched (its own are removed whole); links are never followed.
    """
    removed = 0
    for folder in folders:
        for top, dirs, files in os.walk(folder):
            kept = []
            for name in dirs + files:
                path = os.path.join(top, name)
                try:
                    st = os.lstat(path)
                    if st.st_uid == uid:
                        if stat.S_ISDIR(st.st_mode):
                            shutil.rmtree(path, ignore_errors=True)
                        else:
                            os.unlink(path)
                        removed += 1
                    elif stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_IXOTH:   # it could go in there
                        kept.append(name)
                except OSError:
                    continue
            dirs[:] = [d for d in dirs if d in kept]
    return removed


def remove_ipc_of(uid: int) -> int:
    """Delete the System V shared memory segments, message queues and semaphore sets `uid` owns or
    created (they outlive every process); the number removed."""
    removed = 0
    for kind, flag in (("shm", "-m"), ("msg", "-q"), ("sem", "-s")):
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                header, *rows = [line.split() for line in table]
        except OSError:
            continue
        ident, owners = header.index(kind + "id" if kind != "msg" else "msqid"), [header.index("uid"),
                                                                                  header.index("cuid")]
        for row in rows:
            if any(int(row[i]) == uid for i in owners):
                done = subprocess.run([_tool("ipcrm"), flag, row[ident]], capture_output=True, check=False)
                removed += done.returncode == 0
    return removed


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


CALLBACK_EXTRA_BYTES = 1 << 30   # address space a grader function may add to the grader's own


def _run_callback(callbacks, request, blobs, limits, deadline):
    """Run the grader function the child asked for, on plain data, in a process of its own (forked from
    the grader) that is killed at its time limit, whatever C code it is in, and cannot grow the grader's
    memory; the reply for it."""
    fn = callbacks[request["callback"]]
    size = sum(blob.nbytes for blob in blobs)
    if size > limits.callback_bytes:
        return {"ok": False, "error": f"the arguments hold {size} bytes of arrays; the limit is "
                                      f"{limits.callback_bytes}"}, []
    args, kwargs = protocol.decode(request["args"], blobs), protocol.decode(request["kwargs"], blobs)
    seconds = max(min(limits.callback_seconds, deadline - time.monotonic()), 0.001)
    if not getattr(fn, "__module__", "").startswith("autograder.references."):
        return _run_callback_here(fn, args, kwargs, seconds)
    read_fd, write_fd = _pipe()
    pid = os.fork()
    if pid == 0:   # the helper: runs the function, writes its reply, never returns
        try:
            os.close(read_fd)
            with open("/proc/self/status") as status:
                used = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
            resource.setrlimit(resource.RLIMIT_AS, (used + CALLBACK_EXTRA_BYTES,) * 2)
            resource.setrlimit(resource.RLIMIT_CPU, (int(seconds) + 1,) * 2)
            try:
                out = []
                reply = {"ok": True, "result": protocol.encode(fn(*args, **kwargs), out)}
            except BaseException as exc:  # noqa: B036 (arguments it cannot take, or out of memory)
                reply, out = {"ok": False, "error": capped(f"{type(exc).__name__}: {exc}")}, []
            protocol.send(write_fd, reply, out)
        finally:
            os._exit(0)
    os.close(write_fd)
    try:
        return protocol.receive(read_fd, limit=limits.reply_bytes, deadline=time.monotonic() + seconds,
                                header_limit=limits.header_bytes)
    except TimeoutError:
        return {"ok": False, "error": f"it ran for more than {seconds:.3g} s on your arguments"}, []
    except (OSError, EOFError, ValueError):
        return {"ok": False, "error": "it ended without an answer on your arguments (out of memory?)"}, []
    finally:
        os.close(read_fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


class _CallbackTimeout(Exception):
    pass


def _run_callback_here(fn, args, kwargs, seconds):
    """Run a function of the test cell itself (a spy that records what student code passes it, on top of
    the notebook's small instructor functions) in the grader, where what it records stays: a timer stops
    its Python code at `seconds`. The grader's reference functions, whose C code a timer cannot stop,
    run forked instead (`_run_callback`)."""
    def stop(signum, frame):
        raise _CallbackTimeout
    timed = threading.current_thread() is threading.main_thread()   # a Dask worker grades in a thread
    if timed:
        previous = signal.signal(signal.SIGALRM, stop)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        out = []
        return {"ok": True, "result": protocol.encode(fn(*args, **kwargs), out)}, out
    except _CallbackTimeout:
        return {"ok": False, "error": f"it ran for more than {seconds:.3g} s on your arguments"}, []
    except Exception as exc:  # arguments it cannot take: the student's call fails with it
        return {"ok": False, "error": capped(f"{type(exc).__name__}: {exc}")}, []
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def capped(text: Any, limit: int = MAX_ERROR_CHARS) -> str:
    """`text` as a string of at most `limit` characters (what the child sends is not trusted to be short)."""
    text = text if isinstance(text, str) else repr(text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text) - limit} more characters)"


def _checked_cell(reply):
    """The one cell result of a "run" reply, checked and capped; ValueError if it is malformed."""
    cells = reply.get("cells")
    if not (isinstance(cells, list) and len(cells) == 1 and isinstance(cells[0], dict)
            and isinstance(cells[0].get("ok"), bool)):
        raise ValueError("a malformed reply to running a cell")
    cell = cells[0]
    banned, refused = cell.get("banned") or {}, cell.get("refused") or []
    if not (isinstance(banned, dict) and isinstance(refused, list)):
        raise ValueError("a malformed reply to running a cell")
    return {"ok": cell["ok"], "error": None if cell["ok"] else capped(cell.get("error")),
            "stdout": capped(cell.get("stdout") or "", protocol.MAX_OUTPUT),
            "banned": {capped(k, 100): capped(v, 100) for k, v in list(banned.items())[:100]},
            "refused": [capped(r) for r in refused[:20]]}


class Sandbox:
    """One student's code in a child process.

    sandbox = Sandbox(limits=...); sandbox.run_cells([...]); sandbox.call("f", args)
    If the child dies (os._exit, a timeout, a memory bomb), the next request starts a fresh one and
    runs the same cells again first, so that one exercise's crash costs only that exercise. Once the
    submission's budget (limits.submission_seconds, from run_cells, or the `deadline` shared by every
    sandbox of the submission) is spent, every request fails.
    hidden: paths the caller keeps from the child in "uid" mode (namespaces mode sees only `view_paths`).
    banned: modules the child must not have (the clean room); deadline: the submission's budget, shared.
    """

    def __init__(self, hidden: Iterable[Path | str] = (), limits: Limits = Limits(), python: str = sys.executable,
                 mode: str | None = None, banned: Iterable[str] = (), deadline: float | None = None) -> None:
        # modules that must not exist in the child: refused by its guard, and (namespaces mode) not on disk
        self.banned = list(banned)
        self.hidden = [Path(p).resolve() for p in hidden]
        self.secret = secrets.token_bytes(32)   # the key of the line counter's replies (convbook.tracing)
        self.limits = limits
        self.python = python
        self.mode = mode or isolation()
        self.cells, self.cell_results, self.fatal, self.restarts = [], [], {}, 0
        self.fatal_calls = {}  # function name -> why a call to it ended the child
        self.interference = []  # what the line counter's guard saw student code do to it (for the instructor)
        self.proc = None
        self.scratch = None
        # the child's own uid, when it has one: its processes are counted, and killed at the end
        self.uid = _fresh_uid() if self.mode in ("namespaces", "uid") else None
        # monotonic time when the submission's budget runs out: one deadline for every sandbox of a
        # submission (pass the first one's `budget_deadline`), else set by run_cells
        self.budget_deadline = deadline
        self.shared_deadline = deadline is not None
        self.out_of_time = False

    # --- process life --------------------------------------------------------------------------------
    def _start(self):
        request_r, self._request_w = _pipe()
        self._reply_r, reply_w = _pipe()
        self.scratch = tempfile.mkdtemp(prefix="convbook-sandbox-")
        log = open(Path(self.scratch) / "sandbox.log", "w")
        uid = self.uid
        env = _child_env()
        if self.mode == "namespaces":
            root = Path(self.scratch) / "root"
            root.mkdir()
            cmd = _namespace_command(self.python, root, request_r, reply_w, uid, self.limits,
                                     absent=banned_paths(self.banned))
        else:
            work = Path(self.scratch) / "work"
            work.mkdir(mode=0o700)
            shutil.copy(CHILD_SCRIPT, work / "child.py")
            os.chmod(work / "child.py", 0o644)  # the source may be unreadable to others
            cmd = [self.python, "-I", "child.py", str(request_r), str(reply_w)]
            if self.mode == "uid":  # e.g. in a container: the caller makes the hidden paths unreadable
                os.chmod(self.scratch, 0o711)  # its work folder is reachable, the log beside it is not
                os.chown(work, uid, uid)
                cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                       "--inh-caps=-all", "--bounding-set=-all", *cmd]
            env.update(HOME=str(work), MPLCONFIGDIR=str(work / "mpl"))
        self.proc = subprocess.Popen(
            cmd, cwd=self.scratch if self.mode == "namespaces" else work, env=env, pass_fds=(request_r, reply_w),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
            preexec_fn=_set_limits(self.limits))
        os.close(request_r)
        os.close(reply_w)
        log.close()
        try:  # the child says hello once it runs; if it cannot start, that is the engine's fault
            protocol.receive(self._reply_r, limit=self.limits.header_bytes,
                             deadline=time.monotonic() + self.limits.request_seconds)
        except (OSError, EOFError, ValueError, TimeoutError) as exc:
            detail = (Path(self.scratch) / "sandbox.log").read_text()[-2000:]
            self.close()
            raise SandboxError(f"the sandbox did not start ({type(exc).__name__}): {detail}") from exc
        protocol.send(self._request_w, {"secret": self.secret.hex(), "banned": self.banned}, [])

    def close(self) -> None:
        """End the child and everything it started (its group, its PID namespace, every process of its
        uid), then delete its scratch directory and, in "uid" mode, whatever its uid left elsewhere."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            for fd in (self._request_w, self._reply_r):
                os.close(fd)
            self.proc = None
        if self.uid is not None and os.geteuid() == 0:
            end_processes_of(self.uid)
            if self.mode == "uid":
                remove_files_of(self.uid)
                remove_ipc_of(self.uid)
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
        now = time.monotonic()
        if self.budget_deadline is not None and now >= self.budget_deadline:
            self.out_of_time = True
            raise OutOfTime(self.budget_message())
        deadline = now + self.limits.request_seconds
        by_budget = self.budget_deadline is not None and self.budget_deadline < deadline
        deadline = min(deadline, self.budget_deadline) if by_budget else deadline
        try:
            protocol.send(self._request_w, header, list(blobs))
            while True:
                self._wait_for_reply(deadline)
                reply, replies = protocol.receive(self._reply_r, limit=self.limits.reply_bytes,
                                                  deadline=deadline, header_limit=self.limits.header_bytes)
                if not isinstance(reply, dict):
                    raise ValueError("a reply that is not a JSON object")
                if "callback" not in reply:
                    return reply, replies
                answer, answer_blobs = _run_callback(callbacks, reply, replies, self.limits, deadline)
                protocol.send(self._request_w, answer, answer_blobs)
        except TimeoutError:
            self.close()
            if by_budget:
                self.out_of_time = True
                raise OutOfTime(self.budget_message()) from None
            raise ChildDied(f"it ran for more than {self.limits.request_seconds:g} s (an infinite loop?)") from None
        except ForkBomb:
            self.close()
            raise ChildDied(f"it kept starting processes, up to the limit of {self.limits.processes} "
                            f"(a fork bomb?)") from None
        except (OSError, EOFError, ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
            reason = self._death_reason() or f"it broke the grading protocol ({type(exc).__name__})"
            self.close()
            raise ChildDied(reason) from exc

    def budget_message(self) -> str:
        """Why nothing more of the submission runs, once its budget is spent."""
        return (f"the whole submission may run for {self.limits.submission_seconds:g} s, and that time was "
                f"used up; what was left is scored 0")

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
            if self.out_of_time:
                raise OutOfTime(self.budget_message())
            if self.restarts > MAX_RESTARTS:
                raise ChildDied(f"your code ended the grading process {self.restarts} times; grading stopped")
            self.restarts += 1
            self._start()
            for index, source in enumerate(self.cells):
                if index in self.fatal:
                    continue
                try:
                    header, _ = self._request({"op": "run", "cells": [source]})
                    self.cell_results[index] = _checked_cell(header)
                except ValueError:  # a well-formed message that is not a cell's result: forged
                    self.close()
                    self.fatal[index] = "it broke the grading protocol (a malformed reply)"
                    break
                except ChildDied as exc:
                    self.fatal[index] = str(exc)
                    break
        for index, reason in self.fatal.items():
            self.cell_results[index] = {"ok": False, "error": f"this cell was skipped: {reason}", "stdout": ""}

    def run_cells(self, cells: Iterable[str], lazily: bool = False,
                  skip: Mapping[int, str] | None = None) -> list[dict[str, Any] | None]:
        """Run the student's code cells in order; returns [{"ok", "error", "stdout"}] per cell.

        A cell that ends the child (os._exit, a timeout, a memory bomb) is skipped from then on; cells
        not run when the budget ran out, or when the child kept dying, are None. The submission's
        wall-clock budget starts here, unless the sandbox was given the submission's deadline.
        lazily: start the child (and run the cells) at the first call instead (the results are then [None]).
        skip: {index: why} of cells that ended another sandbox of this submission: never run here.
        """
        self.cells = list(cells)
        self.cell_results = [None] * len(self.cells)
        self.fatal = dict(skip or {})
        self.restarts = 0
        if not self.shared_deadline:
            self.budget_deadline = time.monotonic() + self.limits.submission_seconds
        if lazily:
            return self.cell_results
        try:
            self._ensure_started()
        except ChildDied:  # out of time or restarts: the calls that follow fail with the same reason
            pass
        return self.cell_results

    def count_lines(self, name: str, args: Sequence[Any], skip: Iterable[str] = ()) -> dict[str, Any]:
        """Run `name` on `args` in the child under the guard's line counter (convbook.tracing).

        Returns {"ok", "total", "per_line": {(function, line): n}, "reference_calls", "interference",
        "result", "error"}; a reply that is not the guard's own (forged, replayed) is {"ok": False,
        "error", "interference": [why]}.
        """
        self._ensure_started()
        blobs, callbacks = [], []
        nonce = secrets.token_hex(16)
        # sealed: only the guard opens them, once its counter and clock are ready (see tracing._sealed)
        tree = protocol.encode(list(seal(args, self.secret, nonce)), blobs, callbacks)
        header, arrays = self._request({"op": "count_lines", "name": name, "args": tree, "skip": list(skip),
                                        "nonce": nonce}, blobs, callbacks)
        counts, problem = read_count_reply(header, self.secret, nonce, arrays)
        if problem is None and counts.get("unit_bytes") != sum(a.nbytes for a in arrays_in(args)):
            problem = "the arguments of the count were changed on their way to the line counter (by your code)"
        if problem is not None:
            return {"ok": False, "error": f"the loop rule could not be measured: {problem}",
                    "interference": [problem]}
        return counts

    def call(self, name: str, args: Sequence[Any], kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call the student's function `name` on `args` and `kwargs` in the child.

        Returns the reply: {"ok": True, "result", "args_after", "stdout"} or {"ok": False, "error"}.
        Raises ChildDied if the call ended the child (the next call starts a fresh one) or its reply
        was malformed.
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
            return self._checked_call_reply(header, replies)
        except ChildDied as exc:
            self.fatal_calls[name] = str(exc)
            raise

    def _checked_call_reply(self, header, replies):
        """The reply to a call with its values decoded and its texts capped; ChildDied if malformed."""
        try:
            if not isinstance(header.get("ok"), bool):
                raise ValueError("no verdict")
            checked = {"ok": header["ok"], "stdout": capped(header.get("stdout") or "", protocol.MAX_OUTPUT)}
            if not header["ok"]:   # banned: the modules the guard refused during the call (for the message)
                banned = header.get("banned") or []
                if not isinstance(banned, list):
                    raise ValueError("a malformed list of refused modules")
                return {**checked, "error": capped(header.get("error")),
                        "banned": [capped(m, 200) for m in banned[:20]]}
            after = header.get("args_after")
            return {**checked, "result": protocol.decode(header["result"], replies),
                    "args_after": None if after is None else protocol.decode(after, replies)}
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, RecursionError) as exc:
            self.close()
            raise ChildDied("it broke the grading protocol (a malformed reply)") from exc
