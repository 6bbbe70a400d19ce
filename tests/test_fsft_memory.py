"""The memory sampler shared by the experiment runner and the benchmarks."""
import numpy as np
import pytest

from aitom.classify.deep.fsft.memory import FIELDS, MemorySampler, peak_rss_mib, reset_peak, status_mib

linux = pytest.mark.skipif(not status_mib(), reason="needs /proc/self/status")
MIB = 2**20


@linux
def test_status_gives_resident_memory_and_its_parts():
    status = status_mib()
    assert set(status) == set(FIELDS)
    assert status["RssAnon"] + status["RssFile"] <= status["VmRSS"] + 1  # plus RssShmem
    assert status_mib(("VmHWM",))["VmHWM"] >= status["VmRSS"] - 1


@linux
def test_sampler_sees_memory_allocated_and_freed_inside_the_block():
    with MemorySampler(interval=0.001) as memory:
        block = np.ones(96 * MIB // 8)
        del block
    assert memory.growth("RssAnon") > 80
    assert memory.peak["VmRSS"] - memory.start["VmRSS"] > 80
    assert status_mib()["RssAnon"] < memory.peak["RssAnon"] - 80  # freed again


@linux
def test_peak_is_reset_per_measurement():
    if not reset_peak():
        pytest.skip("kernel without clear_refs peak reset")
    block = np.ones(128 * MIB // 8)
    high = peak_rss_mib()
    del block
    assert reset_peak()
    assert peak_rss_mib() < high - 100
    assert peak_rss_mib() >= status_mib()["VmRSS"] - 1
