"""Geometry, AITom convention: ZYZ Euler angles and rotation matrices, uniform random rotations
(:mod:`aitom.geometry.ang_loc`), rotating and shifting volumes (:mod:`aitom.geometry.rotate`).
See ``doc/simulation.md``."""
