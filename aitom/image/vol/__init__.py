"""Volume helpers (:mod:`aitom.image.vol.util`) and missing-wedge masks (:mod:`aitom.image.vol.wedge`)."""
