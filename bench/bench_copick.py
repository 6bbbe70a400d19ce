"""Benchmark cutting subtomograms out of a copick (OME-NGFF zarr) tomogram: time, chunk decodes, memory.

Writes a noise tomogram (default 512 x 512 x 200 float32, 10 Å voxels) into a copick project in a
temporary folder, once per ``--chunks`` value (zarr chunk edge; copick's own writer uses 256), and the same
volume as an MRC file. Then cuts ``--picks`` random boxes (edge ``--box``) with
:func:`aitom.picking.extract.extract_subtomogram`, one at a time (nothing kept), from

* the MRC file, memory-mapped (:func:`aitom.io.tomogram.open_tomogram`), picks in z order;
* the zarr tomogram (:class:`aitom.io.copick_project.ZarrTomogram`, decoded-chunk cache ``--cache-mb``),
  picks in chunk order (:func:`aitom.picking.extract.read_order` with ``chunks``), as the copick job reads;
* the same with picks in plain z order, to show what the chunk order saves.

Memory is sampled as in ``bench_picks.py`` (``aitom.classify.deep.fsft.memory.MemorySampler``: peak
``RssAnon`` above its level before each run).

Run: ``.venv/bin/python bench/bench_copick.py [--shape 512 512 200] [--picks 3000] [--chunks 64 256]``.
"""
import argparse
import os
import sys
import tempfile
import time

import numpy as np

from aitom.classify.deep.fsft.memory import MemorySampler
from aitom.io import copick_project
from aitom.io.file import put_mrc
from aitom.io.tomogram import open_tomogram
from aitom.picking.extract import extract_subtomogram, read_order


def cut_all(tomogram, centres, box):
    """Cut every box in the given order, keeping none."""
    for centre in centres:
        extract_subtomogram(tomogram, centre, box, 1.0, 0.0)


def timed(label, fn, rows):
    with MemorySampler() as memory:
        start = time.perf_counter()
        reads = fn()
        seconds = time.perf_counter() - start
    rows.append((label, seconds, reads, memory.growth("RssAnon")))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(512, 512, 200))
    parser.add_argument("--picks", type=int, default=3000)
    parser.add_argument("--box", type=int, default=32)
    parser.add_argument("--chunks", type=int, nargs="+", default=(64, 256))
    parser.add_argument("--cache-mb", type=float, default=512)
    args = parser.parse_args(argv)
    copick = copick_project.import_copick()
    rng = np.random.default_rng(0)
    volume = rng.standard_normal(tuple(args.shape), dtype=np.float32)
    half = args.box // 2
    centres = rng.uniform(half, np.array(args.shape) - half - 1, size=(args.picks, 3))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        mrc = os.path.join(tmp, "tomogram.mrc")
        put_mrc(volume, mrc, voxel_spacing=10.0)
        config = copick_project.write_config(os.path.join(tmp, "copick.json"),
                                             [{"name": "particle", "is_particle": True}], os.path.join(tmp, "p"))
        root = copick.from_file(config)
        for c in args.chunks:
            copick_project.write_tomogram(root.new_run(f"chunks-{c}"), 10.0, "wbp", volume, chunks=(c, c, c))
        del volume

        def mrc_run():
            with open_tomogram(mrc) as tomogram:
                cut_all(tomogram.data, centres[read_order(centres)], args.box)
            return None

        timed("MRC, memory-mapped, z order", mrc_run, rows)
        for c in args.chunks:
            run = copick.from_file(config).get_run(f"chunks-{c}")
            for label, chunked in (("chunk order", True), ("z order", False)):
                def zarr_run():
                    tomogram = copick_project.open_zarr_tomogram(run, 10.0, "wbp", cache_mb=args.cache_mb)
                    order = read_order(centres, tomogram.chunks if chunked else None)
                    cut_all(tomogram, centres[order], args.box)
                    return tomogram.chunk_reads

                timed(f"zarr {c}^3 chunks, {label}", zarr_run, rows)
    n_chunks = {c: int(np.prod(np.ceil(np.array(args.shape) / c))) for c in args.chunks}
    print(f"{args.picks} boxes of {args.box}^3 from a {' x '.join(map(str, args.shape))} float32 tomogram; "
          f"zarr chunk counts {n_chunks}; decoded-chunk cache {args.cache_mb:g} MB")
    print(f"{'run':<36}{'seconds':>9}{'boxes/s':>9}{'chunk decodes':>15}{'peak RssAnon +MB':>18}")
    for label, seconds, reads, memory in rows:
        print(f"{label:<36}{seconds:>9.2f}{args.picks / seconds:>9.0f}{'-' if reads is None else reads:>15}"
              f"{memory:>18.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
