"""Benchmark: convolution forward + backward, the course's fast layers against loops, scipy and PyTorch.

Run from the repository root:  python -m bench.conv_layers   (or `make bench`)

This is a benchmark, not a test: every implementation is timed side by side in one run (round-robin
repeats after a warm-up, median reported), so the ratios are comparable even if the machine is slow.
Writes bench/results.json and bench/conv_layers.png.

Implementations
  fast    convbook.layers.conv_forward / conv_backward (im2col + BLAS, col2im)
  torch   torch.nn.functional.conv2d, backward by autograd (CPU; only when torch is installed)
  naive   straightforward loops over N, F, H', W' (below); run on a small batch, scaled linearly in N
  scipy   autograder.references.conv.conv_forward_reference (scipy.signal), forward only, small batch
          scaled linearly in N; it always computes in float64

FLOPs: forward 2*N*F*C*HH*WW*H'*W'; backward counted as twice the forward (dx and dw).

Fairness: PyTorch's OpenMP threads would otherwise spin after each of its calls and steal the cores from
the NumPy measurement that follows; OMP_WAIT_POLICY=PASSIVE (set below, before torch is imported) puts
them to sleep instead. Both sides use every core (NumPy's OpenBLAS threads, torch's intra-op threads).
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # must precede `import torch`

import argparse
import ctypes
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

from autograder.references.conv import conv_forward_reference
from convbook.layers import conv_backward, conv_forward

try:
    import torch
except ImportError:  # the benchmark runs without PyTorch; the ratios to it are then not measured
    torch = None

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
PLOT_PNG = HERE / "conv_layers.png"

# name, x shape (N, C, H, W), w shape (F, C, HH, WW), stride, pad
CASES = [
    ("cs231n", (100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    ("wide", (64, 16, 32, 32), (32, 16, 3, 3), 1, 1),
    ("deep", (32, 32, 16, 16), (64, 32, 3, 3), 1, 1),
    ("5x5 stride 2", (16, 3, 64, 64), (16, 3, 5, 5), 2, 2),
]
DTYPES = [np.float64, np.float32]
SMALL_N = 2  # batch size for the slow implementations (naive, scipy); their time is linear in N
# geometric mean over the cases of fast / torch forward+backward time, per dtype
TARGET_RATIO = {"float64": 1.25, "float32": 1.5}


# --- naive loops -------------------------------------------------------------------------------------

def conv_forward_naive(x, w, b, conv_param):
    """Loops over every output entry: x (N, C, H, W), w (F, C, HH, WW), b (F,) -> out (N, F, H', W')."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    """Loops over every output entry: dout (N, F, H', W') -> dx (N, C, H, W), dw (F, C, HH, WW), db (F,)."""
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    rows, cols = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
                    dw[f] += x_pad[n, :, rows, cols] * dout[n, f, i, j]
                    dx_pad[n, :, rows, cols] += w[f] * dout[n, f, i, j]
    db = dout.sum(axis=(0, 2, 3))
    return dx_pad[:, :, pad:pad + H, pad:pad + W], dw, db


# --- the machine ---------------------------------------------------------------------------------------

def _openblas():
    """numpy's OpenBLAS (core name, threads) read from the loaded library, or None if not found."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("openblas", "64_"), ("openblas", "")):
            try:
                corename = getattr(lib, f"{prefix}_get_corename{suffix}")
                threads = getattr(lib, f"{prefix}_get_num_threads{suffix}")
            except AttributeError:
                continue
            corename.restype = ctypes.c_char_p
            return {"library": Path(path).name, "core": corename().decode(), "threads": int(threads())}
    return None


def machine_info():
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "numpy": np.__version__,
        "numpy_blas": f"{blas.get('name')} {blas.get('version')}",
        "openblas_runtime": _openblas(),
        "env": {k: os.environ[k] for k in sorted(os.environ) if k.startswith(("OPENBLAS_", "OMP_", "MKL_", "GOTO_"))},
        "torch": None if torch is None else torch.__version__,
        "torch_threads": None if torch is None else torch.get_num_threads(),
    }
    return info


def matmul_peak(dtype, size=1024, repeat=9):
    """GFLOP/s of A @ B for two size x size matrices (median of `repeat` runs after a warm-up)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size)).astype(dtype) for _ in range(2))
    seconds = time_side_by_side({"matmul": lambda: a @ b}, repeat)["matmul"]
    return 2 * size ** 3 / seconds / 1e9


# --- timing ----------------------------------------------------------------------------------------------

def time_side_by_side(fns, repeat):
    """Median seconds of each callable in `fns` ({name: fn}), the repeats interleaved round-robin.

    Every callable runs once first (warm-up); interleaving spreads any change of machine load evenly.
    """
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def case_inputs(x_shape, w_shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    return x, w, b


def forward_flops(x_shape, w_shape, stride, pad):
    N, C, H, W = x_shape
    F, _, HH, WW = w_shape
    Ho, Wo = (H + 2 * pad - HH) // stride + 1, (W + 2 * pad - WW) // stride + 1
    return 2 * N * F * C * HH * WW * Ho * Wo


def torch_callables(x, w, b, stride, pad, dout):
    """(forward, forward + autograd backward) closures for torch.nn.functional.conv2d on CPU."""
    xt, wt, bt = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
    dout_t = torch.from_numpy(dout)

    def forward():
        with torch.no_grad():
            return torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=pad)

    def forward_backward():
        for t in (xt, wt, bt):
            t.grad = None
        torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=pad).backward(dout_t)

    return forward, forward_backward


def bench_case(name, x_shape, w_shape, stride, pad, dtype, repeat):
    """One shape and dtype: {impl: {'fwd_ms', 'fb_ms', ...}} for every implementation available."""
    conv_param = {"stride": stride, "pad": pad}
    x, w, b = case_inputs(x_shape, w_shape, dtype)
    out, cache = conv_forward(x, w, b, conv_param)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)

    fns = {
        "fast fwd": lambda: conv_forward(x, w, b, conv_param),
        "fast f+b": lambda: conv_backward(dout, conv_forward(x, w, b, conv_param)[1]),
    }
    if torch is not None:
        fns["torch fwd"], fns["torch f+b"] = torch_callables(x, w, b, stride, pad, dout)
    times = time_side_by_side(fns, repeat)

    # the slow ones on a batch of SMALL_N images, fewer repeats; their cost is linear in N
    n = min(SMALL_N, x_shape[0])
    xs, douts = x[:n], dout[:n]
    slow = time_side_by_side({
        "naive fwd": lambda: conv_forward_naive(xs, w, b, conv_param),
        "naive f+b": lambda: conv_backward_naive(douts, conv_forward_naive(xs, w, b, conv_param)[1]),
        "scipy fwd": lambda: conv_forward_reference(xs, w, b, conv_param),
    }, repeat=3)
    scale = x_shape[0] / n
    times.update({k: v * scale for k, v in slow.items()})

    flops = forward_flops(x_shape, w_shape, stride, pad)
    rows = {}
    for impl in ("fast", "torch", "naive", "scipy"):
        fwd, fb = times.get(f"{impl} fwd"), times.get(f"{impl} f+b")
        if fwd is None:
            continue
        rows[impl] = {
            "fwd_ms": 1e3 * fwd,
            "fb_ms": None if fb is None else 1e3 * fb,
            "fwd_gflops": flops / fwd / 1e9,
            "fb_gflops": None if fb is None else 3 * flops / fb / 1e9,
            "measured_at_N": n if impl in ("naive", "scipy") else x_shape[0],
        }
    if "torch" in rows:
        for row in rows.values():
            row["fwd_vs_torch"] = row["fwd_ms"] / rows["torch"]["fwd_ms"]
            row["fb_vs_torch"] = None if row["fb_ms"] is None else row["fb_ms"] / rows["torch"]["fb_ms"]
    return {"case": name, "x": list(x_shape), "w": list(w_shape), "stride": stride, "pad": pad,
            "dtype": np.dtype(dtype).name, "forward_gflop": flops / 1e9, "impls": rows}


# --- report -------------------------------------------------------------------------------------------------

def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_case(result, peaks):
    peak = peaks[result["dtype"]]
    print(f"\n{result['case']}: x {tuple(result['x'])}, w {tuple(result['w'])}, stride {result['stride']}, "
          f"pad {result['pad']}, {result['dtype']}  ({result['forward_gflop']:.3f} GFLOP forward)")
    print(f"  {'impl':<8}{'fwd ms':>10}{'f+b ms':>11}{'fwd/torch':>11}{'f+b/torch':>11}"
          f"{'GFLOP/s f+b':>13}{'% peak':>8}  note")
    for impl, row in result["impls"].items():
        gflops = row["fb_gflops"] if row["fb_gflops"] is not None else row["fwd_gflops"]
        note = []
        if row["fb_ms"] is None:
            note.append("forward only (GFLOP/s of the forward)")
        if row["measured_at_N"] != result["x"][0]:
            note.append(f"measured at N={row['measured_at_N']}, scaled x{result['x'][0] // row['measured_at_N']}")
        if impl == "scipy" and result["dtype"] != "float64":
            note.append("computes in float64")
        print(f"  {impl:<8}{row['fwd_ms']:>10.2f}{_fmt(row['fb_ms'], '.2f'):>11}"
              f"{_fmt(row.get('fwd_vs_torch'), '.2f'):>11}{_fmt(row.get('fb_vs_torch'), '.2f'):>11}"
              f"{gflops:>13.2f}{100 * gflops / peak:>7.1f}%  {'; '.join(note)}")


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def summarize(results, peaks):
    """Per dtype: the geometric mean of fast / torch (forward+backward) and whether it meets its target;
    the wide float64 case's fraction of the matmul peak (information: the layers stay pure NumPy)."""
    summary = {"peaks_gflops": peaks}
    for dtype, target in TARGET_RATIO.items():
        rows = [r for r in results if r["dtype"] == dtype]
        ratio = geomean([r["impls"]["fast"]["fb_vs_torch"] for r in rows]) if torch is not None else None
        summary[f"geomean_fast_vs_torch_fb_{dtype}"] = ratio
        summary[f"ratio_target_met_{dtype}"] = None if ratio is None else ratio <= target
        summary[f"backward_over_forward_{dtype}"] = {
            r["case"]: (r["impls"]["fast"]["fb_ms"] - r["impls"]["fast"]["fwd_ms"]) / r["impls"]["fast"]["fwd_ms"]
            for r in rows}
    wide = next(r for r in results if r["dtype"] == "float64" and r["case"] == "wide")
    summary["wide_float64_fast_fb_gflops"] = wide["impls"]["fast"]["fb_gflops"]
    summary["wide_float64_fraction_of_peak"] = wide["impls"]["fast"]["fb_gflops"] / peaks["float64"]
    return summary


def print_summary(summary):
    print("\nSummary (fast layers vs PyTorch, forward+backward, geometric mean of the time ratio over the cases)")
    for dtype, target in TARGET_RATIO.items():
        ratio, met = summary[f"geomean_fast_vs_torch_fb_{dtype}"], summary[f"ratio_target_met_{dtype}"]
        verdict = "not measured (torch is not installed)" if met is None else ("MET" if met else "NOT MET")
        print(f"  {dtype}: {'-' if ratio is None else f'{ratio:.2f}x'} (target <= {target}x): {verdict}")
        print("    fast backward / fast forward time: " + ", ".join(
            f"{case} {v:.1f}" for case, v in summary[f"backward_over_forward_{dtype}"].items()))
    print(f"  float64, wide case, fast layers forward+backward: {summary['wide_float64_fast_fb_gflops']:.1f} GFLOP/s"
          f" = {100 * summary['wide_float64_fraction_of_peak']:.0f}% of the float64 matmul peak "
          f"{summary['peaks_gflops']['float64']:.1f} GFLOP/s (information; pure NumPy, no compiled code)")


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['case']}\n{r['dtype']}" for r in results]
    impls = ["fast", "torch", "naive", "scipy"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 5), sharey=True)
    for ax, key, title in ((axes[0], "fwd_ms", "forward"), (axes[1], "fb_ms", "forward + backward")):
        width = 0.8 / len(impls)
        for k, impl in enumerate(impls):
            values = [(r["impls"].get(impl) or {}).get(key) for r in results]
            xs = [i + (k - 1.5) * width for i, v in enumerate(values) if v]
            if xs:
                ax.bar(xs, [v for v in values if v], width, label=impl)
        ax.set_xticks(range(len(labels)), labels, fontsize=8)
        ax.set_yscale("log")
        ax.set_title(f"{title} (naive, scipy: scaled from N={SMALL_N})")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("median time (ms), log scale")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- cnn_digits ---------------------------------------------------------------------------------------------

def time_cnn_digits_training():
    """Seconds of one training run of the `cnn_digits` network (the solution's train(), its defaults:
    12 epochs of Adam on the fixed split, one BLAS thread as in the notebook), and its test accuracy."""
    from threadpoolctl import threadpool_limits

    from autograder.solutions import load_solution
    from convbook.digits import load_digits_split

    solution, data = load_solution("cnn_digits"), load_digits_split()
    with threadpool_limits(limits=1, user_api="blas"):
        start = time.perf_counter()
        params, _ = solution.train(solution.init_params(seed=0), data, solution.cnn_loss, solution.adam_update,
                                   verbose=False)
        seconds = time.perf_counter() - start
        scores = solution.cnn_loss(params, data["X_test"])  # without labels: the class scores (N, 10)
    accuracy = float((scores.argmax(axis=1) == data["y_test"]).mean())
    print(f"\ncnn_digits: one training run (12 epochs, Adam, fast layers) took {seconds:.1f} s; "
          f"test accuracy {100 * accuracy:.2f}%")
    return {"seconds": seconds, "test_accuracy": accuracy}


# --- main ---------------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per implementation (median)")
    parser.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both sides, NumPy's BLAS and torch (default: every core); "
                             "1 gives steadier ratios on a busy machine")
    args = parser.parse_args(argv)
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=args.threads, user_api="blas")
        if torch is not None:
            torch.set_num_threads(args.threads)

    info = machine_info()
    print("Machine:", info["platform"], f"| {info['cpu_count']} CPUs | python {info['python']}")
    blas = info["openblas_runtime"]
    print(f"numpy {info['numpy']} with {info['numpy_blas']}"
          + (f" (core {blas['core']}, {blas['threads']} threads)" if blas else ""))
    print("BLAS/OpenMP environment:", info["env"] or "none set")
    print("PyTorch:", f"{info['torch']} ({info['torch_threads']} threads)" if torch is not None
          else "not installed (its columns are skipped)")
    if info["load_average_1min"] > 0.5 * (info["cpu_count"] or 1):
        print(f"WARNING: load average {info['load_average_1min']:.1f}: other processes are running, "
              "the timings will be noisy")

    peaks = {np.dtype(dt).name: matmul_peak(dt) for dt in DTYPES}
    print("matmul peak (1024 x 1024 @ 1024 x 1024): "
          + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in peaks.items()))

    results = []
    for name, x_shape, w_shape, stride, pad in CASES:
        for dtype in DTYPES:
            result = bench_case(name, x_shape, w_shape, stride, pad, dtype, args.repeat)
            print_case(result, peaks)
            results.append(result)

    summary = summarize(results, peaks)
    print_summary(summary)
    cnn_digits = time_cnn_digits_training()

    info["load_average_1min_after"] = os.getloadavg()[0]
    RESULTS_JSON.write_text(json.dumps({
        "machine": info, "repeat": args.repeat, "threads": args.threads, "small_N": SMALL_N, "cases": results, "summary": summary,
        "cnn_digits_training": cnn_digits,
    }, indent=1) + "\n")
    written = [RESULTS_JSON]
    if not args.no_plot:
        plot(results, PLOT_PNG)
        written.append(PLOT_PNG)
    print("\nwrote " + " and ".join(os.path.relpath(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
