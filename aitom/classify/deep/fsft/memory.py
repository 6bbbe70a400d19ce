"""Resident memory of this process, from Linux's ``/proc/self/status``: the one memory sampler of the
experiment runner (:mod:`.baselines`) and the benchmarks (``bench/``).

* :func:`reset_peak` and :func:`peak_rss_mib`: the kernel's high-water mark ``VmHWM``, reset before each
  measured piece of work (Linux >= 4.0); where that is missing, the peak since the process started.
* :class:`MemorySampler`: peaks of ``VmRSS`` and of its two parts, ``RssAnon`` (memory the process
  allocated) and ``RssFile`` (pages of mapped files and libraries: page cache, shared and reclaimable,
  not copies), sampled in a thread, with their values at the start.

Values are in MiB.
"""
import resource
import threading

FIELDS = ("VmRSS", "RssAnon", "RssFile")


def status_mib(fields=FIELDS):
    """Current values (MiB) of ``fields`` of ``/proc/self/status``; ``{}`` where the file does not exist.

    Examples
    --------
    >>> status = status_mib()  # doctest: +SKIP
    >>> status["RssAnon"] + status["RssFile"] <= status["VmRSS"] + 1  # doctest: +SKIP
    True
    """
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in fields:
                    out[key] = int(value.split()[0]) / 1024.0  # kB
    except OSError:
        pass
    return out


def reset_peak():
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib():
    """Peak RSS (MiB) of this process since the last :func:`reset_peak` (``VmHWM``), else since it started
    (``getrusage``).

    Examples
    --------
    >>> import numpy as np
    >>> reset_peak()  # doctest: +SKIP
    True
    >>> before = peak_rss_mib()
    >>> block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    >>> peak_rss_mib() - before > 60  # doctest: +SKIP
    True
    """
    peak = status_mib(("VmHWM",)).get("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class MemorySampler:
    """Peaks of :data:`FIELDS` (MiB) over a ``with`` block, sampled every ``interval`` seconds in a thread.

    ``start`` holds the values when the block began, ``peak`` the largest seen (the start, the samples
    and the end), :meth:`growth` their difference.

    Examples
    --------
    >>> import numpy as np
    >>> with MemorySampler() as memory:
    ...     block = np.ones(64 * 2**20 // 8)
    >>> memory.growth("RssAnon") > 60  # doctest: +SKIP
    True
    """

    def __init__(self, fields=FIELDS, interval=0.01):
        self.fields, self.interval = tuple(fields), interval
        self.start, self.peak = {}, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        for k, v in status_mib(self.fields).items():
            self.peak[k] = max(self.peak.get(k, v), v)

    def _run(self):
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self):
        self.start = status_mib(self.fields)
        self.peak = dict(self.start)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()

    def growth(self, field):
        """Peak minus start of ``field`` (MiB)."""
        return self.peak[field] - self.start[field]
