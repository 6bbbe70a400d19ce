"""Missing-wedge masks (:mod:`aitom.image.vol.wedge.util`)."""
