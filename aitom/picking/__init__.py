"""Particle picking and extraction: template matching, cutting subtomograms at picks, background negatives.

Public API
----------
Extraction (:mod:`aitom.picking.extract`)
    :func:`tomogram_coordinates`, :func:`plan_extraction`, :func:`extract_subtomogram`,
    :func:`extract_subtomograms`, :func:`read_order`, :func:`resolve_pad_value`, :func:`extract_background`
Template matching (:mod:`aitom.picking.template_matching`)
    :func:`match_template`, :func:`find_peaks`, :func:`pick_particles`, :func:`spherical_mask`
Evaluation (:mod:`aitom.picking.evaluate`)
    :func:`match_picks`, :func:`picking_metrics`, :func:`matched_class_accuracy`
Simulated material (:mod:`aitom.picking.simulated`)
    :func:`class_agnostic_picks`, :func:`labelled_subtomograms`

Tomograms are memory-mapped by :func:`aitom.io.tomogram.open_tomogram`; cubes are streamed into a network
by :func:`aitom.classify.deep.fsft.streaming.subtomogram_dataset`.
See ``doc/picking.md``.
"""
from aitom.picking.extract import (
    EDGE_MODES,
    SKIP_REASONS,
    extract_background,
    extract_subtomogram,
    extract_subtomograms,
    plan_extraction,
    read_order,
    resolve_pad_value,
    tomogram_coordinates,
)
from aitom.picking.evaluate import match_picks, matched_class_accuracy, picking_metrics
from aitom.picking.template_matching import find_peaks, match_template, pick_particles, spherical_mask
from aitom.picking.simulated import class_agnostic_picks, labelled_subtomograms  # noqa: E402  (uses the above)

__all__ = [
    "EDGE_MODES",
    "SKIP_REASONS",
    "class_agnostic_picks",
    "extract_background",
    "extract_subtomogram",
    "extract_subtomograms",
    "find_peaks",
    "labelled_subtomograms",
    "match_picks",
    "match_template",
    "matched_class_accuracy",
    "pick_particles",
    "picking_metrics",
    "plan_extraction",
    "read_order",
    "resolve_pad_value",
    "spherical_mask",
    "tomogram_coordinates",
]
