"""Particle picking and extraction: template matching, cutting subtomograms at picks, background negatives.

Public API
----------
Extraction (:mod:`aitom.picking.extract`)
    :func:`open_tomogram`, :func:`tomogram_coordinates`, :func:`plan_extraction`,
    :func:`extract_subtomogram`, :func:`extract_subtomograms`, :func:`subtomogram_dataset`,
    :func:`read_order`, :func:`resolve_pad_value`, :func:`extract_background`
Template matching (:mod:`aitom.picking.template_matching`)
    :func:`match_template`, :func:`find_peaks`, :func:`pick_particles`, :func:`spherical_mask`
Evaluation (:mod:`aitom.picking.evaluate`)
    :func:`match_picks`, :func:`picking_metrics`

See ``doc/picking.md``.
"""
from aitom.picking.extract import (
    EDGE_MODES,
    SKIP_REASONS,
    MappedTomogram,
    extract_background,
    extract_subtomogram,
    extract_subtomograms,
    open_tomogram,
    plan_extraction,
    read_order,
    resolve_pad_value,
    subtomogram_dataset,
    tomogram_coordinates,
)
from aitom.picking.evaluate import match_picks, picking_metrics
from aitom.picking.template_matching import find_peaks, match_template, pick_particles, spherical_mask

__all__ = [
    "EDGE_MODES",
    "SKIP_REASONS",
    "MappedTomogram",
    "extract_background",
    "extract_subtomogram",
    "extract_subtomograms",
    "find_peaks",
    "match_picks",
    "match_template",
    "open_tomogram",
    "pick_particles",
    "picking_metrics",
    "plan_extraction",
    "read_order",
    "resolve_pad_value",
    "spherical_mask",
    "subtomogram_dataset",
    "tomogram_coordinates",
]
