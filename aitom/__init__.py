"""AITom-style cryo-ET toolkit: I/O, geometry, structures, simulation and FSFT domain adaptation."""
import os

# TensorFlow turns its oneDNN CPU kernels on by default only on CPUs with AVX-512 VNNI/BF16 or AMX; on
# every other x86 CPU (AVX2 laptops and servers, most AMD EPYC) they stay off and the FSFT training step
# runs several times slower (doc/performance.md). TensorFlow reads this variable once, when it is first
# imported, and every ``aitom`` module is imported after this package, so this is the one place that
# decides. An explicit setting by the user (``TF_ENABLE_ONEDNN_OPTS=0``) is kept.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
