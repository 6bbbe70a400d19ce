"""AITom-style cryo-ET toolkit: I/O, geometry, structures, simulation and FSFT domain adaptation."""
