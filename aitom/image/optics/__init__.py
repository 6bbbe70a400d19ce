"""Electron optics: the contrast transfer function (:mod:`aitom.image.optics.ctf`)."""
