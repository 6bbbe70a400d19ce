"""aitom.picking.evaluate: one-to-one matching within a radius, precision and recall."""
import math

import numpy as np
import pandas as pd

from aitom.picking.evaluate import match_picks, picking_metrics


def test_matching_minimises_the_total_distance_not_greedily():
    # greedy nearest-first would give pick 0 to particle 0 (distance 1) and leave pick 1 unmatched
    truth = np.array([[0.0, 0, 0], [3.0, 0, 0]])
    picks = np.array([[1.0, 0, 0], [-1.5, 0, 0]])
    np.testing.assert_array_equal(match_picks(picks, truth, radius=2.0), [1, 0])


def test_the_radius_is_inclusive_and_nothing_farther_is_matched():
    truth = np.array([[0.0, 0, 0]])
    np.testing.assert_array_equal(match_picks([[3.0, 4.0, 0.0]], truth, radius=5.0), [0])
    np.testing.assert_array_equal(match_picks([[3.0, 4.0, 0.1]], truth, radius=5.0), [-1])


def test_particle_lists_use_their_canonical_columns():
    truth = pd.DataFrame({"x_px": [10.0, 50.0], "y_px": [10.0, 50.0], "z_px": [10.0, 50.0], "score": [0.0, 0.0]})
    picks = pd.DataFrame({"score": [0.9, 0.8], "z_px": [49.0, 11.0], "y_px": [50.0, 10.0], "x_px": [50.0, 10.0]})
    np.testing.assert_array_equal(match_picks(picks, truth, radius=2.0), [1, 0])


def test_empty_lists_match_nothing():
    assert match_picks(np.zeros((0, 3)), [[1.0, 2, 3]], radius=5).shape == (0,)
    np.testing.assert_array_equal(match_picks([[1.0, 2, 3]], np.zeros((0, 3)), radius=5), [-1])


def test_metrics_count_true_positives_and_are_nan_without_a_denominator():
    m = picking_metrics(np.array([2, -1, 0, -1]), n_truth=5)
    assert (m["n_picks"], m["n_truth"], m["true_positives"]) == (4, 5, 2)
    assert (m["precision"], m["recall"]) == (0.5, 0.4)
    empty = picking_metrics(np.array([], dtype=int), n_truth=0)
    assert math.isnan(empty["precision"]) and math.isnan(empty["recall"])


def test_matched_class_accuracy_counts_matched_picks_only():
    from aitom.picking import matched_class_accuracy
    truth_classes = np.array(["a", "b", "c"])
    # picks 0 and 2 match particles 1 and 0; pick 1 is false and its class does not count
    assert matched_class_accuracy(["b", "a", "c"], truth_classes, [1, -1, 0]) == 0.5
    assert np.isnan(matched_class_accuracy(["a"], truth_classes, [-1]))

