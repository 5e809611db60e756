"""The sandboxed child: runs one student's code cells, then calls their functions on request.

This file is copied into the sandbox and run as a script (`python -I child.py REQUEST_FD REPLY_FD`). It
imports nothing from the `autograder` package, which the sandbox hides. It never decides a score: it
hands back plain data (JSON with arrays as `.npy` bytes), which the grader loads as
np.load(allow_pickle=False) would.

Messages, both ways: an 8-byte big-endian length, then a JSON header (with "blob_bytes", the size of
each array's `.npy` bytes), then those bytes, one array after the other. Arrays are read back by
`load_npy`: numpy's header parser, no pickle, no object arrays. In the header:
- an array is {"__array__": k} (the k-th blob), a tuple {"__tuple__": [...]}, a dict with string keys
  {"__dict__": {...}};
- (grader to child only) one of the student's own functions, passed as an argument, is
  {"__function__": name}, and one of the grader's functions is {"__callback__": k}: while a call runs,
  the child may send {"callback": k, "args", "kwargs"} and gets {"ok", "result"} back before the call's
  own reply.

On start the child sends {"ready": true}. Requests:
- {"op": "run", "cells": [source, ...]} -> {"cells": [{"ok", "error", "stdout"}, ...]};
- first of all, {"secret": hex, "banned": [module, ...]}: the guard (convbook.tracing.install_guard) goes in
  before any student code runs, with the key of the line counter and the libraries that must not exist;
- {"op": "count_lines", "name", "args", "skip", "nonce"} -> the lines the call ran, written and signed by
  the guard's hook (see convbook.tracing.read_count_reply);
- {"op": "call", "name": ..., "args": [...], "kwargs": {...}} -> {"ok": true, "result": ...,
  "args_after": [...]} or {"ok": false, "error": "..."}.
"""
from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import select
import struct
import sys
import time
from typing import TYPE_CHECKING

import numpy as np

if __name__ == "__main__" and len(sys.argv) > 3:   # the folder holding the convbook the grader bound (namespaces)
    sys.path.insert(0, sys.argv[3])
from convbook import tracing

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

MAX_OUTPUT = 20_000  # characters of printed output kept per cell or call


def encode(value: Any, blobs: list[np.ndarray], callbacks: list[Callable[..., Any]] | None = None) -> Any:
    """A JSON-able tree for `value`; arrays are appended to `blobs`. Raises TypeError for anything else.

    callbacks: a list, on the grader's side only: its own functions are appended there and stand in the
    tree as {"__callback__": k}; the child calls them back through the grader (their code never crosses).
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, np.generic):
        return encode(value.item(), blobs) if value.dtype.kind in "biuf" else encode(np.asarray(value), blobs)
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise TypeError("an array of Python objects")
        blobs.append(value)
        return {"__array__": len(blobs) - 1}
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, blobs, callbacks) for v in value]}
    if isinstance(value, list):
        return [encode(v, blobs, callbacks) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError("a dict with keys that are not strings")
        return {"__dict__": {k: encode(v, blobs, callbacks) for k, v in value.items()}}
    if isinstance(getattr(value, "student_function", None), str):  # the grader's proxy of a student function
        return {"__function__": value.student_function}
    if callable(value) and callbacks is not None:
        callbacks.append(value)
        return {"__callback__": len(callbacks) - 1}
    raise TypeError(f"a value of type {type(value).__name__}")


def decode(tree: Any, blobs: Sequence[np.ndarray], namespace: dict[str, Any] | None = None) -> Any:
    """The value of an encoded tree; {"__function__": name} is the student's function of that name."""
    if isinstance(tree, list):
        return [decode(v, blobs, namespace) for v in tree]
    if isinstance(tree, dict):
        if "__array__" in tree:
            return blobs[tree["__array__"]]
        if "__tuple__" in tree:
            return tuple(decode(v, blobs, namespace) for v in tree["__tuple__"])
        if "__callback__" in tree:
            return grader_function(tree["__callback__"])
        if "__function__" in tree:
            if namespace is None or not callable(namespace.get(tree["__function__"])):
                raise ValueError(f"no function {tree['__function__']} to pass")
            return namespace[tree["__function__"]]
        return {k: decode(v, blobs, namespace) for k, v in tree["__dict__"].items()}
    return tree


CHANNEL = {}  # "request" and "reply" file descriptors, set by main(): grader functions are called over them


def grader_function(index: int) -> Callable[..., Any]:
    """A stand-in for the grader's function number `index`: each call asks the grader to run it."""
    def call_grader(*args, **kwargs):
        blobs = []
        header = {"callback": index, "args": encode(list(args), blobs), "kwargs": encode(kwargs, blobs)}
        send(CHANNEL["reply"], header, blobs)
        reply, replies = receive(CHANNEL["request"])
        if not reply.get("ok"):
            raise RuntimeError(f"the grader's function failed on your arguments: {reply.get('error')}")
        return decode(reply["result"], replies)
    return call_grader


def read_exact(fd: int, n: int, deadline: float | None = None) -> bytearray:
    """n bytes from fd, in a bytearray; EOFError if the other side closed first, TimeoutError past
    `deadline` (monotonic)."""
    data = bytearray(n)
    view = memoryview(data)
    while view:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        got = os.readv(fd, [view])
        if not got:
            raise EOFError
        view = view[got:]
    return data


def receive(fd: int, limit: int = 1 << 40, deadline: float | None = None,
            header_limit: int | None = None) -> tuple[dict[str, Any], list[np.ndarray]]:
    """(header, arrays) of one message; ValueError if its JSON header exceeds `header_limit` bytes
    (default: `limit`), its arrays exceed `limit` bytes in all, or it is not a message at all."""
    header_limit = limit if header_limit is None else header_limit
    size = struct.unpack(">Q", read_exact(fd, 8, deadline))[0]
    if size > header_limit:
        raise ValueError(f"a message header of {size} bytes (the limit is {header_limit})")
    header = json.loads(read_exact(fd, size, deadline))
    if not isinstance(header, dict) or not isinstance(header.get("blob_bytes"), list):
        raise ValueError("a message header that is not an object with the arrays' sizes")
    sizes = [int(n) for n in header.pop("blob_bytes")]
    if min(sizes, default=0) < 0:
        raise ValueError("a negative array size")
    if sum(sizes) > limit:
        raise ValueError(f"arrays of {sum(sizes)} bytes in all (the limit is {limit})")
    data = read_exact(fd, sum(sizes), deadline)
    blobs, start = [], 0
    for n in sizes:
        blobs.append(load_npy(memoryview(data)[start:start + n]))
        start += n
    return header, blobs


NPY_HEADERS = {}  # .npy header bytes -> (shape, fortran_order, dtype): the same arrays cross again and again


def load_npy(buffer: Any) -> np.ndarray:
    """The array in `.npy` bytes, as np.load(..., allow_pickle=False) reads it, but without copying the
    data: the header is parsed by numpy's own (literal-only) reader, and object arrays are refused."""
    if bytes(buffer[:8]) != b"\x93NUMPY\x01\x00" or len(buffer) < 10:
        raise ValueError("not an .npy version 1.0 array")
    data_start = 10 + struct.unpack("<H", buffer[8:10])[0]
    key = bytes(buffer[:data_start])
    if key not in NPY_HEADERS:
        stream = io.BytesIO(key)
        np.lib.format.read_magic(stream)
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        if dtype.hasobject:
            raise ValueError("an array of Python objects (not loaded)")
        if len(NPY_HEADERS) < 4096:
            NPY_HEADERS[key] = shape, fortran_order, dtype
    else:
        shape, fortran_order, dtype = NPY_HEADERS[key]
    count = int(np.prod(shape, dtype=np.int64))
    if count * dtype.itemsize != len(buffer) - data_start:
        raise ValueError("an .npy array whose data does not match its header")
    flat = np.frombuffer(buffer, dtype=dtype, count=count, offset=data_start)
    return flat.reshape(shape[::-1]).T if fortran_order else flat.reshape(shape)


def npy_parts(array: np.ndarray) -> tuple[bytes, memoryview]:
    """The `.npy` file of `array` (as np.save writes it) as two buffers: its header, and its data unchanged."""
    array = np.asarray(array, order="C")     # (not ascontiguousarray: it makes a 0-d array 1-d)
    if array.dtype.hasobject:
        raise TypeError("an array of Python objects")
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, np.lib.format.header_data_from_array_1_0(array))
    return head.getvalue(), memoryview(array.reshape(-1).view(np.uint8))


def send(fd: int, header: dict[str, Any], blobs: Iterable[np.ndarray]) -> None:
    """One message: an 8-byte length, the JSON header (with the sizes of the arrays), then each array's
    `.npy` bytes; written with writev, without copying the arrays' data."""
    parts = [npy_parts(array) for array in blobs]
    data = json.dumps({**header, "blob_bytes": [len(head) + len(body) for head, body in parts]}).encode()
    buffers = [memoryview(struct.pack(">Q", len(data)) + data)]
    buffers += [memoryview(part) for head_and_body in parts for part in head_and_body]
    while buffers:
        written = os.writev(fd, buffers[:64])
        while buffers and written >= buffers[0].nbytes:
            written -= buffers[0].nbytes
            buffers.pop(0)
        if written:
            buffers[0] = buffers[0][written:]


def short_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _statements(source, index):
    """The cell's top-level statements, each compiled on its own (line numbers as in the cell), with the
    names each binds; the whole cell as one piece if it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [(compile(source, f"<cell {index}>", "exec"), [])]
    pieces = []
    for node in tree.body:
        names = [alias.asname or alias.name.split(".")[0] for alias in getattr(node, "names", ())
                 if isinstance(node, (ast.Import, ast.ImportFrom))]
        names += [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
        names += [node.name] if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else []
        pieces.append((compile(ast.Module([node], []), f"<cell {index}>", "exec"), names))
    return pieces


def _cell_line(tb, filename):
    """The last line of `filename` in the traceback `tb` (frames of the guard's hook are refused: skipped)."""
    line = None
    while tb is not None:
        try:
            if tb.tb_frame.f_code.co_filename == filename:
                line = tb.tb_lineno
        except RuntimeError:
            pass
        tb = tb.tb_next
    return line


def run_cells(cells: Iterable[str], namespace: dict[str, Any], by_statement: bool = False) -> list[dict[str, Any]]:
    """Execute each cell in `namespace`; an error stops that cell only (as in a notebook run with errors).

    by_statement: run each top-level statement on its own, so that a statement that needs a library the
    grading forbids (an import) fails alone; the names it would have bound are listed in "banned"
    ({name: module}), for the message of a function that needs them.
    """
    results = []
    for index, source in enumerate(cells):
        out = io.StringIO()
        errors, banned = [], {}
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            try:
                pieces = _statements(source, index) if by_statement else [
                    (compile(source, f"<cell {index}>", "exec"), [])]
            except BaseException as exc:  # noqa: B036
                pieces, errors = [], [short_error(exc)]
            for code, names in pieces:
                try:
                    exec(code, namespace)
                except BaseException as exc:  # noqa: B036 (SystemExit and KeyboardInterrupt count as the cell's error)
                    line = _cell_line(exc.__traceback__, f"<cell {index}>")
                    errors.append(short_error(exc) + (f" (line {line} of the cell)" if line else ""))
                    if isinstance(exc, tracing.BannedModule) and exc.name:
                        banned.update({name: exc.name for name in names})
                    if not by_statement:
                        break
        refused = []
        sys.audit("convbook.log", refused)
        results.append({"ok": not errors, "error": "; ".join(errors) or None, "stdout": out.getvalue()[:MAX_OUTPUT],
                        "banned": banned, "refused": [r[9:] for r in refused if r.startswith("refused: ")]})
    return results


def call(namespace: dict[str, Any], name: str, args: Sequence[Any],
         kwargs: dict[str, Any]) -> tuple[dict[str, Any], list[np.ndarray]]:
    fn = namespace.get(name)
    if fn is None:
        return {"ok": False, "error": f"NameError: {name} is not defined in your notebook"}, []
    if not callable(fn):
        return {"ok": False, "error": f"TypeError: {name} is not a function"}, []
    out = io.StringIO()
    refused = []
    sys.audit("convbook.log", [])   # what the guard refused before this call is not this call's doing
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            result = fn(*args, **kwargs)
    except BaseException as exc:  # noqa: B036
        sys.audit("convbook.log", refused)
        return {"ok": False, "error": short_error(exc), "stdout": out.getvalue()[:MAX_OUTPUT],
                "banned": refused}, []
    blobs = []
    try:
        tree = encode(result, blobs)
    except TypeError as exc:
        return {"ok": False, "error": f"TypeError: {name} returned {exc}, which cannot be graded"}, []
    try:  # the arguments after the call, so that the grader can see changes made in place
        args_after = encode(list(args), blobs)
    except TypeError:
        args_after = None
    return {"ok": True, "result": tree, "args_after": args_after, "stdout": out.getvalue()[:MAX_OUTPUT]}, blobs


def main(request_fd: int, reply_fd: int) -> None:
    namespace = {"__name__": "__main__"}
    CHANNEL.update(request=request_fd, reply=reply_fd)
    send(reply_fd, {"ready": True}, [])
    # The guard goes in before any student code: the line counter's key and the banned libraries.
    header, _ = receive(request_fd)
    by_statement = bool(header["banned"])
    tracing.install_guard(bytes.fromhex(header.pop("secret")), reply_fd, header["banned"], strict=by_statement)
    del header
    while True:
        try:
            header, blobs = receive(request_fd)
        except EOFError:
            return
        if header["op"] == "run":
            send(reply_fd, {"cells": run_cells(header["cells"], namespace, by_statement)}, [])
        elif header["op"] == "count_lines":   # the guard's hook counts and replies (signed) by itself
            try:
                args = decode(header["args"], blobs, namespace)
                sys.audit("convbook.count_lines", header["nonce"], namespace.get(header["name"]), args,
                          [(s, namespace.get(s)) for s in header["skip"]])
            except Exception as exc:
                send(reply_fd, {"ok": False, "error": short_error(exc)}, [])
        elif header["op"] == "call":
            try:
                args = decode(header["args"], blobs, namespace)
                kwargs = decode(header.get("kwargs", {"__dict__": {}}), blobs, namespace)
            except ValueError as exc:
                send(reply_fd, {"ok": False, "error": f"NameError: {exc}"}, [])
                continue
            reply, reply_blobs = call(namespace, header["name"], args, kwargs)
            send(reply_fd, reply, reply_blobs)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
