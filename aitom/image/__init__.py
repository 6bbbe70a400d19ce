"""Images and volumes: CTF (:mod:`aitom.image.optics.ctf`), missing-wedge masks
(:mod:`aitom.image.vol.wedge.util`), grids and masks (:mod:`aitom.image.vol.util`), normalisation of
subtomograms (:mod:`aitom.image.normalize`), class montages (:mod:`aitom.image.montage`)."""
