"""What machine a benchmark ran on: CPU model and vector extensions, oneDNN state, GPUs.

Every benchmark prints :func:`header` above its tables, so that a figure never travels without the
CPU class it was measured on and whether TensorFlow's oneDNN kernels were on. TensorFlow is only
asked about oneDNN and GPUs when the benchmark has imported it already (``tf`` argument); a script
that does not use TensorFlow gets the CPU lines alone.

Run alone (``.venv/bin/python bench/machine.py``) it imports TensorFlow through ``aitom`` and prints
the header.

Examples
--------
>>> info = describe()                                  # doctest: +SKIP
>>> info["vector_extensions"]                          # doctest: +SKIP
'AVX2, FMA, AVX-512 F/CD/BW/DQ/VL/IFMA/VBMI, VNNI (AVX-512, AVX), BF16 (AVX-512), AMX (BF16, INT8)'
"""
import os
import platform
import sys

# /proc/cpuinfo flag -> how the header names it, grouped as a reader looks for them
_AVX512_PARTS = (("avx512f", "F"), ("avx512cd", "CD"), ("avx512bw", "BW"), ("avx512dq", "DQ"), ("avx512vl", "VL"),
                 ("avx512ifma", "IFMA"), ("avx512vbmi", "VBMI"))


def cpu_flags(cpuinfo="/proc/cpuinfo"):
    """``(model name, set of flags)`` of the first processor in ``cpuinfo``; ``('unknown CPU', set())`` if unreadable."""
    model, flags = "unknown CPU", set()
    try:
        with open(cpuinfo) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return model, flags


def vector_extensions(flags):
    """The SIMD extensions that matter for TensorFlow's and PyTorch's CPU kernels, as one short string.

    Examples
    --------
    >>> vector_extensions({"avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl"})
    'AVX2, FMA, AVX-512 F/BW/DQ/VL, no VNNI, no AMX'
    >>> vector_extensions({"avx2", "fma"})
    'AVX2, FMA, no AVX-512, no VNNI, no AMX'
    """
    out = [name for flag, name in (("avx2", "AVX2"), ("fma", "FMA")) if flag in flags]
    parts = [name for flag, name in _AVX512_PARTS if flag in flags]
    out.append("AVX-512 " + "/".join(parts) if parts else "no AVX-512")
    vnni = [name for flag, name in (("avx512_vnni", "AVX-512"), ("avx_vnni", "AVX")) if flag in flags]
    out.append(f"VNNI ({', '.join(vnni)})" if vnni else "no VNNI")
    bf16 = [name for flag, name in (("avx512_bf16", "AVX-512"),) if flag in flags]
    if bf16:
        out.append(f"BF16 ({', '.join(bf16)})")
    amx = [name for flag, name in (("amx_bf16", "BF16"), ("amx_int8", "INT8")) if flag in flags]
    out.append(f"AMX ({', '.join(amx)})" if amx else "no AMX")
    return ", ".join(out)


def cpu_mhz(cpuinfo="/proc/cpuinfo"):
    """The first processor's clock in MHz as /proc/cpuinfo reports it (a VM reports the nominal clock)."""
    try:
        with open(cpuinfo) as f:
            return next(float(l.split(":")[1]) for l in f if l.startswith("cpu MHz"))
    except (OSError, StopIteration, ValueError):
        return None


def peak_fp32_gflops(flags, cores, mhz, isa_cap=None):
    """Peak float32 GFLOP/s from the vector width: cores x clock x lanes x 2 (FMA) x 2 FMA units per core.

    Two FMA units per core is an assumption (Xeon Scalable Gold/Platinum, recent EPYC); clock boosts
    and AVX-512 clock reductions are ignored. ``isa_cap='AVX2'`` computes the peak with 256-bit vectors.

    Examples
    --------
    >>> peak_fp32_gflops({"avx512f", "avx2", "fma"}, cores=2, mhz=2100.0)
    268.8
    >>> peak_fp32_gflops({"avx512f", "avx2", "fma"}, cores=2, mhz=2100.0, isa_cap="AVX2")
    134.4
    """
    if mhz is None:
        return None
    lanes = 16 if "avx512f" in flags and (isa_cap or "").upper() not in ("AVX2", "AVX") else 8
    flops_per_lane = 4 if "fma" in flags else 2  # two FMA units, or one multiply and one add per cycle
    return round(cores * mhz / 1e3 * lanes * flops_per_lane, 1)


def onednn_state(tf=None):
    """TensorFlow's oneDNN state as a phrase: on/off, who decided, and any ISA cap (``ONEDNN_MAX_CPU_ISA``).

    With ``tf`` (the imported module) the state is TensorFlow's own answer; without, the environment's.
    """
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if tf is not None:
        from tensorflow.python.util import _pywrap_util_port
        on = bool(_pywrap_util_port.IsMklEnabled())
    else:
        on = None if setting is None else setting != "0"
    why = f"TF_ENABLE_ONEDNN_OPTS={setting}" if setting is not None else "TensorFlow's default for this CPU"
    state = "unknown" if on is None else ("on" if on else "off")
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    if cap and on:
        state += f", ISA capped at {cap} by ONEDNN_MAX_CPU_ISA (emulated: the CPU itself has more)"
    return f"{state} ({why})"


def gpus(tf=None):
    """Names of the visible GPUs (``tf.config``), ``[]`` without any or without ``tf``."""
    if tf is None:
        return []
    names = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(details.get("device_name", device.name))
    return names


def describe(tf=None):
    """The machine as a dict: cpu, vector_extensions, cores, mem_GiB, load, onednn, gpus, python, tensorflow."""
    model, flags = cpu_flags()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cpu": model, "vector_extensions": vector_extensions(flags), "cores": os.cpu_count(), "mem_GiB": mem,
            "load": " ".join(f"{v:.1f}" for v in os.getloadavg()), "onednn": onednn_state(tf), "gpus": gpus(tf),
            "python": platform.python_version(), "tensorflow": tf.__version__ if tf is not None else None}


def header(tf=None):
    """Two lines for the top of a benchmark table (markdown-friendly)."""
    d = describe(tf)
    gpu = ", ".join(d["gpus"]) if d["gpus"] else "none"
    tf_part = f"; TensorFlow {d['tensorflow']}, oneDNN {d['onednn']}" if tf is not None else ""
    return (f"Machine: {d['cpu']} ({d['vector_extensions']}), {d['cores']} cores, {d['mem_GiB']:.0f} GiB RAM, "
            f"GPUs: {gpu}; load average {d['load']} (cores shared with other work){tf_part}; "
            f"Python {d['python']}.")


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import aitom  # noqa: F401  (oneDNN default before TensorFlow)
    import tensorflow
    print(header(tensorflow))
