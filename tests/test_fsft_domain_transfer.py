"""Source volumes as the target records them: CTF transfer filter, target-shaped noise, wiring into train."""
import numpy as np
import pytest

from aitom.classify.deep.fsft.domain_transfer import (CTF_EPSILON, TransferredVolumes, acquisition_ctf, ctf_transfer_filter,
                                                      mean_amplitude_spectrum, source_as_target)
from aitom.classify.deep.fsft.stages import predict_logits
from aitom.errors import InputError
from aitom.image.optics.ctf import rfft_from_op
from aitom.io.dataset import SubtomogramSet
from fsft_helpers import blob_set, tiny_config

SOURCE_CTF = {"Dz": -10.0, "Cs": 2.2, "voltage": 300.0, "pix_size": 1.0}
TARGET_CTF = {"Dz": -5.0, "Cs": 2.0, "voltage": 300.0, "pix_size": 1.0}


def _with_ctf(s, ctf):
    return SubtomogramSet(s.x, s.y, s.class_names, s.voxel_spacing_nm, {"op": {"ctf": dict(ctf)}})


def test_acquisition_ctf_reads_the_op_dict_and_defaults_the_voxel_size():
    s = blob_set(2)
    assert acquisition_ctf(s) is None
    ctf = {k: v for k, v in SOURCE_CTF.items() if k != "pix_size"}
    assert acquisition_ctf(_with_ctf(s, ctf)) == SOURCE_CTF  # pix_size from voxel_spacing_nm
    assert acquisition_ctf(_with_ctf(s, {"Dz": -5.0, "Cs": 2.0})) is None  # no voltage
    with pytest.raises(InputError, match="CTF parameters must be numbers"):
        acquisition_ctf(_with_ctf(s, dict(SOURCE_CTF, Dz="far")))


def test_a_recorded_envelope_and_amplitude_contrast_enter_the_transfer_filter():
    s = blob_set(2)
    recorded = dict(TARGET_CTF, amplitude_contrast=0.1, sigma=1.0)
    assert acquisition_ctf(_with_ctf(s, recorded)) == recorded
    h = ctf_transfer_filter(28, recorded, recorded)
    assert h[0, 0, 0] == pytest.approx(0.01 / (0.01 + CTF_EPSILON ** 2))  # CTF(0) = A: zero frequency passes
    assert ctf_transfer_filter(28, TARGET_CTF, TARGET_CTF)[0, 0, 0] == 0.0


def test_with_ctf_gives_a_dj_list_or_a_set_its_acquisition_parameters():
    from aitom.classify.deep.fsft import with_ctf
    s = blob_set(2)
    out = with_ctf(s, Dz=-10.0, Cs=2.2, voltage=300.0)
    assert acquisition_ctf(out) == SOURCE_CTF and acquisition_ctf(s) is None  # the caller's set is unchanged
    dj = [{"pdb_id": name, "v": v} for name, v in zip(np.asarray(s.class_names)[s.y], s.x)]
    with pytest.raises(InputError, match="give pix_size"):
        with_ctf(dj, Dz=-5.0, Cs=2.0, voltage=300.0)  # a dj list has no voxel spacing
    assert acquisition_ctf(with_ctf(dj, Dz=-5.0, Cs=2.0, voltage=300.0, pix_size=1.0)) == TARGET_CTF


def test_transfer_filter_puts_the_target_ctf_where_the_source_ctf_is_not_near_zero():
    size = 28
    cs, ct = (rfft_from_op(c, (size,) * 3) for c in (SOURCE_CTF, TARGET_CTF))
    h = ctf_transfer_filter(size, SOURCE_CTF, TARGET_CTF)
    strong = np.abs(cs) > 5 * CTF_EPSILON
    assert strong.sum() > 1000
    np.testing.assert_allclose((cs * h)[strong], ct[strong], rtol=0.05, atol=1e-3)
    assert np.all(np.abs(h[np.abs(cs) < 1e-3]) < 0.02)  # source zeros: nothing to transfer, nothing amplified
    with pytest.raises(InputError, match="voxels differ"):
        ctf_transfer_filter(size, SOURCE_CTF, dict(TARGET_CTF, pix_size=1.2))


def test_transferred_volumes_are_standardised_seeded_and_fresh_per_read_seed():
    x = np.random.default_rng(0).normal(size=(6, 8, 8, 8)).astype(np.float32)
    amplitude = mean_amplitude_spectrum(x, np.arange(6))
    view = TransferredVolumes(x, None, amplitude, min_share=0.05, seed=3)
    a = view.read(np.array([1, 4]), np.array([7, 7]))
    np.testing.assert_array_equal(a, view.read(np.array([1, 4]), np.array([7, 7])))
    np.testing.assert_array_equal(a[1], view.read(np.array([4]), np.array([7]))[0])  # whatever the batch
    assert not np.allclose(a, view.read(np.array([1, 4]), np.array([8, 8])))
    np.testing.assert_allclose(a.mean(axis=(1, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(a.std(axis=(1, 2, 3)), 1, atol=1e-4)
    assert view[2].shape == (8, 8, 8) and view[:3].shape == (3, 8, 8, 8) and len(view) == 6
    clean = TransferredVolumes(x, None, amplitude, min_share=1.0).read(np.array([1]), np.array([9]))[0]
    np.testing.assert_allclose(clean, (x[1] - x[1].mean()) / x[1].std(), atol=1e-4)  # share 1: no noise


def test_source_as_target_applies_what_the_metadata_and_config_allow_and_reads_no_test_row():
    source, target = blob_set(4, box=12), blob_set(4, box=12, seed=1)
    rows = np.arange(6)
    target.x[6:] = np.nan  # rows the noise spectrum must not read
    volumes, info = source_as_target(source, target, rows, tiny_config(ctf_estimation="never"))  # no parameters
    assert volumes is source.x and info == {"ctf_transfer": False, "source_noise_share": None}
    volumes, info = source_as_target(_with_ctf(source, SOURCE_CTF), _with_ctf(target, TARGET_CTF), rows,
                                     tiny_config())
    assert isinstance(volumes, TransferredVolumes) and volumes.transfer_filter.shape == (12, 12, 7)
    assert np.all(np.isfinite(volumes.noise_amplitude)) and info == {"ctf_transfer": True, "source_noise_share": 0.05}
    volumes, info = source_as_target(_with_ctf(source, SOURCE_CTF), _with_ctf(target, TARGET_CTF), rows,
                                     tiny_config(source_noise_share=None))
    assert info["ctf_transfer"] and volumes.noise_amplitude is None
    volumes, info = source_as_target(_with_ctf(source, SOURCE_CTF), _with_ctf(target, TARGET_CTF), rows,
                                     tiny_config(ctf_transfer=False, source_noise_share=None))
    assert volumes is source.x


def test_train_with_ctf_metadata_leaves_the_callers_source_untouched():
    from aitom.classify.deep.fsft import train
    source = _with_ctf(blob_set(8), SOURCE_CTF)
    target = _with_ctf(blob_set(12, shift=1.0, seed=1), TARGET_CTF)
    before = source.x.copy()
    result = train(source, target, shots=3, config=tiny_config(self_training_rounds=0, deploy_encoder="source"),
                   progress=False, stages=("1", "2.1"))
    assert isinstance(source.x, np.ndarray)
    np.testing.assert_array_equal(source.x, before)
    assert 0.0 <= result.accuracy["2.1"]["target_test_acc"] <= 1.0
    # the classifier puts the target through the encoder deploy_encoder names
    assert result.accuracy["2.1"]["domain"] == result.classifier.meta["domain"] == "source"
    rows = result.split.target_test
    np.testing.assert_allclose(result.classifier.predict_proba(target.x[rows], 8),
                               np.exp(predict_logits(result.networks, "source", target.x, rows)), atol=1e-5)


@pytest.mark.parametrize("deploy, with_ctf, domain", [("auto", False, "target"), ("auto", True, "target"),
                                                      ("target", True, "target"), ("source", False, "source")])
def test_deploy_encoder_picks_the_encoder_target_data_go_through(deploy, with_ctf, domain):
    from aitom.classify.deep.fsft import train
    source, target = blob_set(8), blob_set(12, shift=1.0, seed=1)
    if with_ctf:
        source, target = _with_ctf(source, SOURCE_CTF), _with_ctf(target, TARGET_CTF)
    config = tiny_config(self_training_rounds=0, deploy_encoder=deploy, ctf_estimation="never")
    result = train(source, target, shots=3, config=config, progress=False, stages=("1", "2.1"))
    assert result.accuracy["1"]["domain"] == "source"  # before adaptation there is only f_s
    assert result.accuracy["2.1"]["domain"] == result.classifier.meta["domain"] == domain


def test_auto_deploys_f_s_after_stage_3_of_a_transferred_run_only():
    from aitom.classify.deep.fsft.pipeline import _stage_domain
    auto, on, off = tiny_config(deploy_encoder="auto"), {"ctf_transfer": True}, {"ctf_transfer": False}
    assert _stage_domain(["1"], auto, on) == "source"  # only f_s exists before adaptation
    assert _stage_domain(["1", "2.1"], auto, on) == "target"
    assert _stage_domain(["1", "2.1", "2.2", "3"], auto, on) == "source"
    assert _stage_domain(["1", "2.1", "2.2", "3"], auto, off) == "target"
    assert _stage_domain(["1", "2.2", "3"], tiny_config(deploy_encoder="target"), on) == "target"
