"""aitom.picking.simulated: labelled training cubes from a simulated tomogram (picks: its doctest)."""
import numpy as np
import pandas as pd


def test_labelled_subtomograms_labels_particles_false_picks_and_negatives():
    from aitom.picking import labelled_subtomograms
    from aitom.simulation.tomogram import SimulatedTomogram
    tomogram = np.random.default_rng(0).normal(size=(48, 48, 48)).astype(np.float32)
    particles = pd.DataFrame({"x_px": [12, 34], "y_px": [12, 30], "z_px": [20, 24], "class_name": ["b", "a"]})
    candidates = pd.DataFrame({"x_px": [13, 30], "y_px": [12, 14], "z_px": [20, 36]})  # a hit, a false pick
    sim = SimulatedTomogram(tomogram, particles, 1.0)
    x, y = labelled_subtomograms(sim, ["a", "b", "background"], candidates, 8, 3, 2.0, np.random.default_rng(1))
    assert x.shape == (6, 8, 8, 8) and x.dtype == np.float32
    assert y.tolist() == [1, 0, 2, 2, 2, 2]
    np.testing.assert_array_equal(x[0], tomogram[8:16, 8:16, 16:24])
