"""The Examples sections of public docstrings run and print what they show (doctest)."""
import doctest
import importlib

import pytest

MODULES = [
    "aitom.image.normalize",
    "aitom.image.vol.wedge.util",
    "aitom.io.file",
    "aitom.io.tomogram",
    "aitom.picking.simulated",
    "aitom.classify.deep.fsft.averaging",
    "aitom.classify.deep.fsft.checkpoint",
    "aitom.classify.deep.fsft.classifier",
    "aitom.classify.deep.fsft.cli",
    "aitom.classify.deep.fsft.config",
    "aitom.classify.deep.fsft.distribute",
    "aitom.classify.deep.fsft.experiment",
    "aitom.classify.deep.fsft.memory",
    "aitom.classify.deep.fsft.picks",
    "aitom.classify.deep.fsft.pipeline",
    "aitom.classify.deep.fsft.plots",
    "aitom.classify.deep.fsft.report",
    "aitom.classify.deep.fsft.stages",
    "aitom.classify.deep.fsft.streaming",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_public_names_of_fsft_have_examples():
    import aitom.classify.deep.fsft as fsft
    missing = [name for name in fsft.__all__ if "Examples\n" not in (getattr(fsft, name).__doc__ or "")]
    assert missing == []


def test_stage_functions_carry_the_shared_sections():
    from aitom.classify.deep.fsft import stages
    for fn in (stages.stage1_source, stages.stage2_1_coral, stages.stage2_2_discriminator, stages.stage3_finetune):
        assert "{stage_sections}" not in fn.__doc__
        assert "    run : aitom.classify.deep.fsft.stages.RunContext, optional\n" in fn.__doc__
        assert fn.__doc__.index("Raises\n") < fn.__doc__.index("Examples\n")
