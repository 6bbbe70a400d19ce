"""Subtomogram simulation: AITom's simple-convolution reconstruction
(:mod:`aitom.simulation.reconstruction.reconstruction__simple_convolution`), simulated labelled and two-domain
data sets (:mod:`aitom.simulation.dataset`) and the ``simulate`` sub-command (:mod:`aitom.simulation.cli`).
See ``doc/simulation.md``."""
