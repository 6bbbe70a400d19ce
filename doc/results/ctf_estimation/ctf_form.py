"""`estimate_ctf_pair` on CTFs of other forms than AITom's: amplitude contrast and envelopes.

Another simulator (or a microscope) may add amplitude contrast, ``sqrt(1 - A²)·sin χ + A·cos χ``, and damp
each domain's CTF by its own envelope; the search fits one amplitude contrast for both domains
(``AMPLITUDE_CONTRAST_GRID``) and no envelope. Synthetic
centred particles (a shell of radius 5-7 voxels plus four blobs, random per particle), 28³ boxes, source
noise-free at −10 µm, target at −5 µm with white noise at SNR 0.1 (variance ratio), 300 / 400 particles,
Cs 2.0 mm, 300 kV; envelope ``exp(-(k / (σ·Nyquist))²)``.
Usage: python doc/results/ctf_estimation/ctf_form.py > doc/results/ctf_estimation/ctf_form.md
"""
import sys

sys.path.insert(0, "tests")  # the tests' synthetic particles (run from the repository root)
from aitom.classify.deep.fsft.ctf_estimation import estimate_ctf_pair  # noqa: E402
from fsft_helpers import ctf_particles  # noqa: E402

CASES = [(0.0, None, None), (0.07, None, None), (0.1, None, None), (0.07, 0.6, 0.6), (0.07, 1.0, None),
         (0.07, None, 1.5), (0.07, None, 1.0), (0.07, None, 0.7), (0.07, None, 0.5)]
print("Truth: source −10 µm, target −5 µm. `A`: amplitude contrast (both domains); σ: envelope (– none).\n")
print("| voxel (nm) | A | σ source | σ target | estimate (source, target) µm | A found | χ² drop | used |")
print("|---|---|---|---|---|---|---|---|")
for pix_size in (1.0, 1.2):
    for a, sigma_s, sigma_t in CASES:
        fit = estimate_ctf_pair(
            ctf_particles(300, -10.0, seed=0, amplitude_contrast=a, envelope=sigma_s, pix_size=pix_size, box=28),
            ctf_particles(400, -5.0, 0.1, 1, amplitude_contrast=a, envelope=sigma_t, pix_size=pix_size, box=28),
            pix_size)
        print(f"| {pix_size} | {a} | {sigma_s or '–'} | {sigma_t or '–'} | {fit['source']['Dz']}, "
              f"{fit['target']['Dz']} | {fit['target']['amplitude_contrast']} | {fit['delta_chi2']:.1f} | {'yes' if fit['use'] else 'no'} |", flush=True)
