"""aitom.classify.deep.fsft.config: FSFTConfig checks its fields at construction and round-trips."""
import dataclasses
import json

import pytest

from aitom.classify.deep.fsft import FSFTConfig
from aitom.errors import InputError


def test_defaults_are_valid_and_round_trip_through_json():
    config = FSFTConfig()
    again = FSFTConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and isinstance(again.widths, tuple)


def test_replace_changes_one_field_and_refuses_unknown_names():
    config = FSFTConfig()
    changed = config.replace(epochs_stage1=config.epochs_stage1 + 1)
    assert changed.epochs_stage1 == config.epochs_stage1 + 1
    assert dataclasses.asdict(changed) == {**dataclasses.asdict(config), "epochs_stage1": config.epochs_stage1 + 1}
    with pytest.raises(TypeError):
        config.replace(epochs_stage_one=7)
    with pytest.raises(TypeError):
        FSFTConfig.from_dict({"no_such_field": 1})


@pytest.mark.parametrize("field, value", [
    ("batch_size", 0), ("batch_size", 2.0), ("batch_size", True), ("shots", -1), ("coral_batch_size", 1),
    ("epochs_stage1", -1), ("lr_stage1", 0.0), ("lr_stage3", float("nan")), ("bn_epsilon", float("inf")),
    ("gamma", -0.1), ("target_test_fraction", 1.0), ("bn_momentum", 1.5), ("widths", (16, 16, 16)),
    ("widths", (16, 16, 0, 128)), ("finetune_lr", 0.0), ("dcd_pairs_per_group", -2), ("coral_loss", "frobenius"),
    ("ctf_transfer", "false"), ("augment", 0), ("source_noise_share", 0.0), ("source_noise_share", 1.5),
    ("coral_encoder", "shared"),
])
def test_bad_values_are_refused_naming_the_field(field, value):
    with pytest.raises(InputError, match=f"config.{field}"):
        FSFTConfig(**{field: value})


def test_optional_fields_accept_none():
    config = FSFTConfig(finetune_lr=None, finetune_epochs=None, dcd_pairs_per_group=None)
    assert (config.finetune_lr, config.finetune_epochs, config.dcd_pairs_per_group) == (None, None, None)


def test_replace_checks_the_new_value_too():
    with pytest.raises(InputError, match="config.epochs_stage3"):
        FSFTConfig().replace(epochs_stage3=-5)


def test_stage_fields_come_from_the_field_metadata_and_cover_every_field():
    import dataclasses
    from aitom.classify.deep.fsft.config import FSFTConfig
    assert "coral_alpha" in FSFTConfig.stage_fields("2.1") and "coral_alpha" not in FSFTConfig.stage_fields("1")
    assert "synchronized_bn" in FSFTConfig.stage_fields("1")
    assert "recalibrate_target_bn" in FSFTConfig.stage_fields("2.2")  # D's target features depend on it
    assert FSFTConfig.stage_fields("split") == ("shots", "target_test_fraction", "source_val_fraction", "seed")
    every = set(FSFTConfig.stage_fields("split", "1", "2.1", "2.2", "3"))
    assert every == {f.name for f in dataclasses.fields(FSFTConfig)}  # a new field must say who reads it


def test_alignment_and_coral_loss_are_validated_when_made():
    import pytest
    from aitom.classify.deep.fsft.config import FSFTConfig
    from aitom.errors import InputError
    with pytest.raises(InputError, match="alignment"):
        FSFTConfig(alignment="mmd")
    with pytest.raises(InputError, match="coral_loss"):
        FSFTConfig(coral_loss="l1")


def test_stage3_target_options_are_validated_when_made():
    with pytest.raises(InputError, match="config.pseudo_label_encoder"):
        FSFTConfig(pseudo_label_encoder="both")
    with pytest.raises(InputError, match="config.stage3_source_target_weight"):
        FSFTConfig(stage3_source_target_weight=-1.0)
