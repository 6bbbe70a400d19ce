"""Defocus of both domains estimated from their mean subtomograms, and its use by the source transfer."""
import numpy as np
import pytest

from aitom.classify.deep.fsft.ctf_estimation import MIN_DELTA_CHI2, estimate_ctf_pair
from aitom.classify.deep.fsft.domain_transfer import TransferredVolumes, ctf_transfer_filter, source_as_target
from aitom.errors import InputError
from aitom.io.dataset import SubtomogramSet
from fsft_helpers import ctf_particles, tiny_config

@pytest.fixture(scope="module")
def domains():
    return ctf_particles(300, -10.0, seed=0), ctf_particles(400, -5.0, snr=0.2, seed=1)


def test_estimate_finds_both_defoci_and_the_contrast_sign(domains):
    source, target = domains
    fit = estimate_ctf_pair(source, target, 1.0)
    assert abs(fit["source"]["Dz"] + 10.0) <= 1.0 and abs(fit["target"]["Dz"] + 5.0) <= 1.0
    assert fit["use"] and fit["delta_chi2"] >= MIN_DELTA_CHI2 and fit["contrast"] == 1
    assert fit["source"]["amplitude_contrast"] == fit["target"]["amplitude_contrast"] == 0.0  # AITom's CTF form
    assert fit["source"]["pix_size"] == 1.0 and fit["target"]["voltage"] == 300.0
    inverted = estimate_ctf_pair(source, -target, 1.0)
    assert inverted["contrast"] == -1 and inverted["target"]["Dz"] == fit["target"]["Dz"]
    known = estimate_ctf_pair(source, target, 1.0, source_ctf={"Dz": -10.0, "Cs": 2.2, "voltage": 300.0})
    assert known["source"]["Dz"] == -10.0 and known["source"]["Cs"] == 2.2 and abs(known["target"]["Dz"] + 5.0) <= 1.0


def test_estimate_holds_for_another_simulators_ctf_form():
    # 10 % amplitude contrast in both domains (searched), a target-only envelope (1/e at Nyquist; not modelled),
    # 1.2 nm voxels: without the amplitude-contrast search the target read -5.9 µm
    source = ctf_particles(300, -10.0, seed=0, amplitude_contrast=0.1, pix_size=1.2)
    target = ctf_particles(400, -5.0, snr=0.2, seed=1, amplitude_contrast=0.1, envelope=1.0, pix_size=1.2)
    fit = estimate_ctf_pair(source, target, 1.2)
    assert abs(fit["source"]["Dz"] + 10.0) <= 0.5 and abs(fit["target"]["Dz"] + 5.0) <= 0.5
    assert fit["use"] and fit["contrast"] == 1 and fit["target"]["amplitude_contrast"] >= 0.05


def test_a_wrong_voxel_size_rescales_the_defoci_and_keeps_the_transfer():
    # data at 1.2 nm read as 1.0 nm (a set that records no voxel size): the CTF on the voxel grid is fixed by
    # λ·Dz/pix², so the estimates scale by (1.0/1.2)² and the source transferred with them is the same
    source = ctf_particles(300, -10.0, seed=0, pix_size=1.2)
    target = ctf_particles(400, -5.0, snr=0.2, seed=1, pix_size=1.2)
    right, wrong = (estimate_ctf_pair(source, target, p) for p in (1.2, 1.0))
    assert right["use"] and wrong["use"]
    for domain in ("source", "target"):
        assert wrong[domain]["Dz"] == pytest.approx(right[domain]["Dz"] / 1.44, abs=0.3)
    as_target = ctf_particles(50, -5.0, seed=0, pix_size=1.2).ravel()  # the first 50 source particles, target CTF
    spectra = np.fft.rfftn(source[:50], axes=(1, 2, 3))
    scores = [np.corrcoef(np.fft.irfftn(spectra * ctf_transfer_filter(24, f["source"], f["target"]), s=(24,) * 3,
                                        axes=(1, 2, 3)).ravel(), as_target)[0, 1] for f in (right, wrong)]
    assert scores[0] > 0.95 and scores[1] > scores[0] - 0.02


def test_one_domain_against_itself_is_not_a_ctf_difference(domains):
    _, target = domains
    fit = estimate_ctf_pair(target, target, 1.0, source_rows=np.arange(200), target_rows=np.arange(200, 400))
    assert not fit["use"] and fit["delta_chi2"] < MIN_DELTA_CHI2


def test_source_as_target_estimates_what_the_data_sets_do_not_record(domains):
    source_x, target_x = domains
    y_s, y_t = np.zeros(len(source_x), np.int64), np.zeros(len(target_x), np.int64)
    source = SubtomogramSet(source_x, y_s, ("a",), voxel_spacing_nm=1.0)
    target = SubtomogramSet(target_x.copy(), y_t, ("a",), voxel_spacing_nm=1.0)
    target.x[350:] = np.nan  # test rows: never read
    rows = np.arange(350)
    volumes, info = source_as_target(source, target, rows, tiny_config())
    assert isinstance(volumes, TransferredVolumes) and info["ctf_transfer"]
    assert info["ctf_estimate"]["use"] and abs(info["ctf_estimate"]["target_Dz"] + 5.0) <= 1.0
    volumes, info = source_as_target(source, target, rows, tiny_config(ctf_estimation="never"))
    assert volumes is source_x and "ctf_estimate" not in info
    wrong = {"op": {"ctf": {"Dz": -2.0, "Cs": 2.0, "voltage": 300.0}}}  # recorded, but not what the data show
    source.meta, target.meta = wrong, wrong
    _, info = source_as_target(source, target, rows, tiny_config())
    assert "ctf_estimate" not in info and info["ctf_transfer"]  # recorded parameters are trusted
    _, info = source_as_target(source, target, rows, tiny_config(ctf_estimation="always"))
    assert abs(info["ctf_estimate"]["source_Dz"] + 10.0) <= 1.0


def test_config_refuses_an_unknown_estimation_mode():
    with pytest.raises(InputError, match="ctf_estimation"):
        tiny_config(ctf_estimation="sometimes")


def test_the_estimate_follows_particles_centred_off_the_box_centre(domains):
    from aitom.classify.deep.fsft.ctf_estimation import particle_centre
    source, target = domains
    shifted = np.roll(target, (2, -1, 1), axis=(1, 2, 3))  # particles centred at (14, 11, 13), not (12, 12, 12)
    np.testing.assert_allclose(particle_centre(shifted[:200].mean(0)), (14, 11, 13),
                               atol=0.3)
    assert estimate_ctf_pair(source, shifted, 1.0)["target"]["Dz"] == estimate_ctf_pair(source, target, 1.0)["target"]["Dz"]


def test_chi2_is_zero_at_the_true_pair_and_finds_the_scale_and_sign():
    from aitom.classify.deep.fsft.ctf_estimation import _chi2
    rng = np.random.default_rng(0)
    d = rng.normal(size=20)
    ctfs = np.stack([np.sin(np.linspace(0, k, 20)) for k in (3.0, 6.0, 9.0)])  # three candidate CTF profiles
    ms, mt = ctfs[0] * d, -2.5 * ctfs[2] * d  # source CTF 0, target CTF 2, contrast inverted and scaled
    var = np.full(20, 0.01)
    chi2, g = _chi2(mt, var, ms, var, ctfs, ctfs)
    assert np.unravel_index(np.argmin(chi2), chi2.shape) == (0, 2)
    assert chi2[0, 2] == pytest.approx(0.0, abs=1e-9) and g[0, 2] == pytest.approx(-2.5)
    assert np.diagonal(chi2).min() > 100  # no equal pair explains it
