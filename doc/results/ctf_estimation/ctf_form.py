"""`estimate_ctf_pair` on CTFs of a form its search does not model: amplitude contrast and envelopes.

Another simulator (or a microscope) may add amplitude contrast, ``sqrt(1 - A²)·sin χ + A·cos χ``, and damp
each domain's CTF by its own envelope; the search models neither (phase contrast only, no envelope). Synthetic
centred particles (a shell of radius 5-7 voxels plus four blobs, random per particle), 28³ boxes, source
noise-free at −10 µm, target at −5 µm with white noise at SNR 0.1 (variance ratio), 300 / 400 particles,
Cs 2.0 mm, 300 kV; envelope ``exp(-(k / (σ·Nyquist))²)``.
Usage: python doc/results/ctf_estimation/ctf_form.py > doc/results/ctf_estimation/ctf_form.md
"""
import numpy as np

from aitom.classify.deep.fsft.ctf_estimation import estimate_ctf_pair
from aitom.image.optics import ctf as optics_ctf

BOX = 28


def particles(n, dz, amplitude_contrast, envelope, pix_size, snr=None, seed=0):
    rng = np.random.default_rng(seed)
    g = np.indices((BOX,) * 3) - BOX // 2
    r = np.sqrt(np.sum(g ** 2, axis=0))
    x = np.zeros((n,) + (BOX,) * 3, np.float32)
    for v in x:
        v += np.exp(-(r - rng.uniform(5, 7)) ** 2 / 0.5)
        for c in rng.normal(scale=3.0, size=(4, 3)):
            v += np.exp(-np.sum((g - c[:, None, None, None]) ** 2, axis=0) / 2.0)
    c = optics_ctf.create(dz, (BOX,) * 3, pix_size=pix_size, voltage=300.0, Cs=2.0, sigma=envelope)
    h = np.fft.ifftshift(np.sqrt(1 - amplitude_contrast ** 2) * c["ctf"] + amplitude_contrast * c["amplitude"])
    x = np.fft.irfftn(np.fft.rfftn(x, axes=(1, 2, 3)) * h[..., :BOX // 2 + 1], s=(BOX,) * 3, axes=(1, 2, 3))
    if snr is not None:
        x += rng.normal(scale=np.sqrt(x.var() / snr), size=x.shape)
    return x.astype(np.float32)


CASES = [(0.0, None, None), (0.07, None, None), (0.1, None, None), (0.07, 0.6, 0.6), (0.07, 1.0, None),
         (0.07, None, 1.5), (0.07, None, 1.0), (0.07, None, 0.7), (0.07, None, 0.5)]
print("Truth: source −10 µm, target −5 µm. `A`: amplitude contrast (both domains); σ: envelope (– none).\n")
print("| voxel (nm) | A | σ source | σ target | estimate (source, target) µm | gain | used |")
print("|---|---|---|---|---|---|---|")
for pix_size in (1.0, 1.2):
    for a, sigma_s, sigma_t in CASES:
        fit = estimate_ctf_pair(particles(300, -10.0, a, sigma_s, pix_size, seed=0),
                                particles(400, -5.0, a, sigma_t, pix_size, snr=0.1, seed=1), pix_size)
        print(f"| {pix_size} | {a} | {sigma_s or '–'} | {sigma_t or '–'} | {fit['source']['Dz']}, "
              f"{fit['target']['Dz']} | {fit['gain']:.2f} | {'yes' if fit['use'] else 'no'} |", flush=True)
