"""Subtomogram reconstruction models (:mod:`.reconstruction__simple_convolution`)."""
