"""Hyper-parameters of FSFT in one dataclass.

Schedule and sizes follow the public reference implementation of Yu et al. (2020) (AITom,
``classify/deep/supervised/cnn/few_shot/domain_adaptation/main.py``): epochs 20 / 20 / 100 / 30 (stage 1
here 60, for the source read as the target records it),
batch 32, CORAL batch 128, D mini-batch 40 pairs, stage-3 mini-batch 20 pairs, γ = 0.2, Adam learning
rates 1e-3 / 2e-4 / 2e-4 / 1e-3, encoder widths 16, 16, 16, 128, D hidden width 64. Where this package
departs from the reference (the CORAL weighting, learning-rate decay, augmentation, frozen BatchNorm in
stage 3, stage 1's length), the field's comment says why.
"""
import dataclasses


def _field(default, *stages):
    """A field read by ``stages`` ("1", "2.1", "2.2", "3", or "split": the few-shot split)."""
    return dataclasses.field(default=default, metadata={"stages": stages})


@dataclasses.dataclass
class FSFTConfig:
    """Every number of the method, with the reference default.

    Architecture
        widths: output channels of the four encoder blocks (blocks 1-2 domain-related, 3-4 shared).
        dcd_hidden: width of the discriminator's dense layers.
        dcd_use_3d_branch: keep D's 3D branch (False is the "no 3D branch" ablation).
        bn_momentum, bn_epsilon: BatchNorm moving-average momentum (Keras convention; 0.9 equals
            PyTorch's default 0.1) and epsilon (PyTorch's 1e-5).
        synchronized_bn: global batch statistics across replicas under ``tf.distribute``.
        mixed_precision: half-precision compute, float32 variables (GPU: float16 with loss scaling; CPU: bfloat16).
    Stage 1 (source cross-entropy)
        epochs_stage1, batch_size, lr_stage1. 60 epochs, not the reference's 20: with the source read as the
            target records it (a fresh target-like noise on every read) 20 leave stage 1 under-trained; 60 raised
            FSFT's validation score on the shrec set at SNR 0.1 by 2.2 points over seeds 0-4 (+0.6 to +3.5 each;
            test 0.928 → 0.954 against a target-only ceiling of 0.910 and a joint one of 0.968;
            doc/results/tuning_stage1_epochs/).
    Stage 2.1 (cross-entropy + α·CORAL)
        epochs_stage2_1, coral_batch_size (per domain), lr_stage2_1, coral_alpha.
        coral_loss: 'normalized' (default: ||C_s - C_t||_F^2 / (||C_s||_F^2 + ||C_t||_F^2), scale-free; see
            ``losses.coral``) or 'paper' (||C_s - C_t||_F^2 / 4d^2). Default weighting α = 1 with the
            normalised loss, chosen on the validation score of the shrec set (doc/results.md) among the
            paper's form at α = 500 (the reference's number, about two orders of magnitude stronger
            than the reference's unsquared norm) and at α = 5 (about the reference's strength).
        coral_encoder: the domain-related encoder the unlabelled target batch goes through in stage 2.1
            (and in stage 3 with ``stage3_coral_alpha``):
            'target' (default; f_t, the paper's) or 'source' (f_s, shared by both domains as in Deep CORAL;
            f_t becomes a copy of the aligned f_s when the stage ends). With the source read as the target
            records it, 'source' lifts stage 2.1 by 1.9 and 3.2 points on the benchmark's two sets at SNR 0.1
            but not FSFT's final score, whose validation
            it changed by +0.2 points over the shrec set's five seeds (doc/results/tuning_coral_encoder/).
        alignment: the distribution distance of stage 2.1, 'coral' (FSFT, Deep CORAL) or 'swd'
            (sliced Wasserstein distance SW_2^2, a baseline; see ``losses.sliced_wasserstein``).
        swd_projections: random directions per SWD evaluation (128; fresh directions every step).
        swd_alpha: the SWD term's weight (1.0; not tuned on any accuracy; coral_alpha is CORAL's only).
            At the start of stage 2.1 on the simulated data of doc/results.md, SWD is about 0.35 and
            the source cross-entropy about 0.005 (α·CORAL about 36): alignment dominates in both.
    Stage 2.2 (discriminator)
        epochs_stage2_2, dcd_batch_size (pairs), lr_stage2_2, dcd_pairs_per_group (pairs of each
        of the four groups per epoch; None = classes x shots, as the reference),
        dcd_source_per_class (source subtomograms per class that pairs are drawn from).
    Stage 3 (fine-tuning against the frozen discriminator)
        epochs_stage3, stage3_batch_size (pairs), lr_stage3, gamma.
        stage3_alternating: False (FSFT): D stays frozen. True: GAN-style, as FADA (Motiian et al.
            2017): every step first updates D on the four pair groups (Adam, lr_stage2_2), then the
            encoders and g as usual.
        stage3_source_weight: weight of L_S (1.0; 0 trains on the target shots' L_T alone).
        stage3_freeze_bn: True (default; not in the reference, which leaves BatchNorm in training mode):
            BatchNorm uses and keeps its moving statistics during stage 3, so that training, D and
            deployment see features normalised the same way (see ``stages.stage3_finetune``).
        stage3_coral_alpha (not in the paper): weight of a CORAL term (``coral_loss``'s form) kept in stage 3
            and its self-training rounds, between each step's source embeddings and as many unlabelled target
            subtomograms through ``coral_encoder``; 0 (default) is the paper's stage 3. With CORAL through f_s
            (the deployed encoder) in both stages and α = 1 it changed FSFT's validation score by -0.2 points over
            the shrec set's five seeds at SNR 0.1 (test -0.4; the term alone -0.5), so it is off
            (doc/results/tuning_stage3_coral/).
        stage3_source_target_weight (not in the paper): weight of a second L_T in stage 3 and its rounds, the
            labelled target rows (shots, then pseudo-labels) through f_s, the encoder deployed after the CTF
            transfer; 0 (default): the labelled target goes through f_t alone, as in the paper. At 1 it lowered
            FSFT's validation score on the shrec set at SNR 0.1 by 3.9 points (seeds 0-1; 2.7 with
            ``pseudo_label_encoder='source'``), so it is off (doc/results/tuning_source_target/).
        self_training_rounds (not in the paper): after stage 3, label a share of the unlabelled target
            pool with the network's own class-balanced confident predictions (``pseudo_labels.py``) and
            run stage 3 again (fresh optimizer, same schedule) with the shots plus those rows as the
            labelled target; 0 turns it off (the paper's stage 3). Each round re-labels the pool with the
            network the previous round left. Default 2 rounds.
        pseudo_label_fraction: share of the pool labelled per round (0.6: each class's 0.6 x pool /
            classes most confident predictions). Rounds and fraction were chosen on the shrec set's
            validation score among 1 or 2 rounds at 0.3 or 0.6 (doc/results.md).
        pseudo_label_encoder: the encoder the rounds label the pool through: 'target' (f_t, default) or
            'source' (f_s). 'source' lifts f_t but leaves the deployed f_s where it was (validation 0.0 points
            on five splits at SNR 0.1, doc/results.md), so f_t labels.
        self_training_epochs: epochs of each self-training round (None: epochs_stage3).
    Fine-tune baseline (``baselines.finetune``: stage 3 with γ = 0 and no D)
        finetune_epochs, finetune_lr: None uses epochs_stage3 and lr_stage3, so the baseline sees
        the target shots exactly as often as FSFT's stage 3 does.
    Learning rate (not in the reference, which keeps every rate constant)
        lr_schedule: 'cosine' (default): each stage's rate decays along a half cosine to 0 over the
            stage, so that the network a stage hands on is not a snapshot of a noisy trajectory (with a
            constant 1e-3, stage 1's source validation accuracy jumps between 0.68 and 0.94 from one
            epoch to the next, doc/results.md); 'constant': the reference's.
    Augmentation (not in the reference)
        augment: every training batch of stages 1, 2.1 and 3 rotates each subtomogram by a random one
            of the identity and the 180° rotations about the three box axes (``data.ROTATIONS_180``):
            they map the missing wedge onto itself, so they add views the microscope could have recorded;
            with 3-7 shots per class they multiply the distinct target views by four.
    Source as the target records it (not in the reference; ``domain_transfer.py``)
        ctf_transfer: when both data sets carry their acquisition parameters (``meta['op']['ctf']``,
            AITom's op dict: Dz, Cs, voltage, pix_size; simulated sets do, and ``--source-ctf`` /
            ``--target-ctf`` set them), every source volume gets the target's CTF in place of its own;
            without them, or False, the source is read as stored.
        ctf_estimation: 'missing' (default): a domain without acquisition parameters gets its defocus
            estimated from its subtomograms (``ctf_estimation.py``: the two domains' mean subtomograms;
            the shots and the unlabelled pool for the target, never the test set), used when the fit
            explains the domains' difference; 'always': estimate both, ignoring recorded parameters (the
            benchmark's check of the blind path); 'never': recorded parameters only.
        ctf_epsilon: the regularisation ε of the source CTF's inverse in the transfer filter
            ``CTF_t·CTF_s / (CTF_s² + ε²)`` (``domain_transfer.ctf_transfer_filter``): shells where the source CTF
            is near a zero get less than the target's CTF. 0.01 lifts stage 1 by 9 points on the shrec set's
            validation split but leaves FSFT's final score where 0.1 does (doc/results/tuning_ctf_epsilon/).
        source_noise_share: with the CTF transfer, each read of a source volume is also mixed with noise
            shaped like the unlabelled target pool's power spectrum, the source keeping a share of the
            variance drawn log-uniformly in [source_noise_share, 1]; None: the filter alone. Both chosen
            on the shrec set's validation score (doc/results.md).
    Prediction (not in the reference)
        deploy_encoder: the domain-related encoder the classifier puts target subtomograms through after an
            adaptation stage (and by which every stage's target accuracy is reported): 'target' (f_t, the
            paper's), 'source' (f_s) or 'auto' (default): f_s after stage 3 when the source was read as the
            target records it (the CTF transfer ran), else f_t. With the transfer f_s is trained on every labelled
            source volume made target-like, and stage 3 and its rounds train the shared layers on the shots and
            the pool's pseudo-labels; chosen on the shrec set's validation split, seeds 0-1: FSFT 0.840 → 0.919
            and 0.877 → 0.923. After stage 2.1 alone f_t is the better (demo: 0.779 against 0.708; doc/results.md).
            Without self-training rounds (fine-tune, FADA, ``self_training_rounds=0``) f_s stays: on the shrec
            set's validation f_t gains +0.1 points in the mean over both SNRs and the three methods
            (doc/results/ablation_four_stages/).
        rotation_averaging: class probabilities are averaged over a subtomogram and its three 180°
            rotations about the box axes (the augmentation's; ``averaging.py``), for the reported
            accuracies and in the trained classifier. Four forward passes per subtomogram; the
            per-epoch source validation accuracy (monitoring only) is single-pass.
    Protocol
        shots: labelled target subtomograms per class; target_test_fraction: share of the remaining
        target subtomograms held out for testing (the rest is the unlabelled pool used by CORAL and
        BatchNorm statistics); source_val_fraction: source subtomograms held out for monitoring;
        recalibrate_target_bn: the target BatchNorm statistics are the unlabelled target pool's
        population statistics, set after stage 2.1 (or, without it, before the first adaptation
        stage) and after a stage 3 that trains them; False (labelled-data methods) uses the labelled
        shots instead (see doc/fsft.md); seed.

    Examples
    --------
    >>> from aitom.classify.deep.fsft import FSFTConfig
    >>> config = FSFTConfig(shots=3)
    >>> config.replace(epochs_stage1=5).epochs_stage1
    5
    >>> FSFTConfig.from_dict(config.to_dict()) == config
    True
    """

    widths: tuple = _field((16, 16, 16, 128), "1")
    dcd_hidden: int = _field(64, "2.2")
    dcd_use_3d_branch: bool = _field(True, "2.2")
    bn_momentum: float = _field(0.9, "1")
    bn_epsilon: float = _field(1e-5, "1")
    synchronized_bn: bool = _field(True, "1")
    mixed_precision: bool = _field(False, "1", "2.1", "2.2", "3")

    epochs_stage1: int = _field(60, "1")
    batch_size: int = _field(32, "1")
    lr_stage1: float = _field(1e-3, "1")

    epochs_stage2_1: int = _field(20, "2.1")
    coral_batch_size: int = _field(128, "2.1")
    lr_stage2_1: float = _field(2e-4, "2.1")
    coral_alpha: float = _field(1.0, "2.1")
    coral_loss: str = _field("normalized", "2.1", "3")
    coral_encoder: str = _field("target", "2.1", "3")
    alignment: str = _field("coral", "2.1")
    swd_projections: int = _field(128, "2.1")
    swd_alpha: float = _field(1.0, "2.1")

    epochs_stage2_2: int = _field(100, "2.2")
    dcd_batch_size: int = _field(40, "2.2")
    lr_stage2_2: float = _field(2e-4, "2.2", "3")
    dcd_pairs_per_group: int = _field(None, "2.2", "3")
    dcd_source_per_class: int = _field(20, "2.2")

    epochs_stage3: int = _field(30, "3")
    stage3_batch_size: int = _field(20, "3")
    lr_stage3: float = _field(1e-3, "3")
    gamma: float = _field(0.2, "3")
    stage3_alternating: bool = _field(False, "3")
    stage3_source_weight: float = _field(1.0, "3")
    stage3_freeze_bn: bool = _field(True, "3")
    stage3_coral_alpha: float = _field(0.0, "3")
    stage3_source_target_weight: float = _field(0.0, "3")

    self_training_rounds: int = _field(2, "3")
    pseudo_label_fraction: float = _field(0.6, "3")
    pseudo_label_encoder: str = _field("target", "3")
    self_training_epochs: int = _field(None, "3")

    finetune_epochs: int = _field(None, "3")
    finetune_lr: float = _field(None, "3")

    augment: bool = _field(True, "1", "2.1", "3")
    lr_schedule: str = _field("cosine", "1", "2.1", "2.2", "3")
    ctf_transfer: bool = _field(True, "1", "2.1", "2.2", "3")
    ctf_estimation: str = _field("missing", "1", "2.1", "2.2", "3")
    ctf_epsilon: float = _field(0.1, "1", "2.1", "2.2", "3")
    source_noise_share: float = _field(0.05, "1", "2.1", "2.2", "3")
    rotation_averaging: bool = _field(True, "1", "2.1", "2.2", "3")  # every stage reports accuracies with it
    deploy_encoder: str = _field("auto", "1", "2.1", "2.2", "3")  # so does this
    shots: int = _field(5, "split")
    target_test_fraction: float = _field(0.5, "split")
    source_val_fraction: float = _field(0.1, "split")
    recalibrate_target_bn: bool = _field(True, "2.1", "2.2", "3")
    seed: int = _field(0, "split")

    def __post_init__(self):
        """Refuse values that would otherwise fail, or silently misbehave, only hours into a run."""
        from numbers import Integral, Real

        from aitom.errors import InputError
        is_int = lambda v: isinstance(v, Integral) and not isinstance(v, bool)
        finite = lambda v: isinstance(v, Real) and not isinstance(v, bool) and v == v and abs(v) != float("inf")
        rules = [  # (fields, may be None, test, what it must be)
            (("dcd_hidden", "batch_size", "dcd_batch_size", "dcd_source_per_class", "stage3_batch_size", "shots",
              "swd_projections"), False, lambda v: is_int(v) and v >= 1, "an integer >= 1"),
            (("coral_batch_size",), False, lambda v: is_int(v) and v >= 2, "an integer >= 2 (a covariance)"),
            (("epochs_stage1", "epochs_stage2_1", "epochs_stage2_2", "epochs_stage3", "seed"), False,
             lambda v: is_int(v) and v >= 0, "an integer >= 0"),
            (("self_training_rounds",), False, lambda v: is_int(v) and v >= 0, "an integer >= 0"),
            (("pseudo_label_fraction",), False, lambda v: finite(v) and 0 < v <= 1, "in (0, 1]"),
            (("dcd_pairs_per_group", "finetune_epochs", "self_training_epochs"), True,
             lambda v: is_int(v) and v >= 0, "None or an integer >= 0"),
            (("lr_stage1", "lr_stage2_1", "lr_stage2_2", "lr_stage3", "bn_epsilon", "ctf_epsilon"), False,
             lambda v: finite(v) and v > 0, "a finite number > 0"),
            (("source_noise_share",), True, lambda v: finite(v) and 0 < v <= 1, "None or in (0, 1]"),
            (("finetune_lr",), True, lambda v: finite(v) and v > 0, "None or a finite number > 0"),
            (("coral_alpha", "swd_alpha", "gamma", "stage3_source_weight", "stage3_coral_alpha",
              "stage3_source_target_weight"), False, lambda v: finite(v) and v >= 0,
             "a finite number >= 0"),
            (("target_test_fraction", "source_val_fraction"), False, lambda v: finite(v) and 0 <= v < 1, "in [0, 1)"),
            (("bn_momentum",), False, lambda v: finite(v) and 0 <= v <= 1, "in [0, 1]"),
            (("widths",), False, lambda v: isinstance(v, (tuple, list)) and len(v) == 4
             and all(is_int(w) and w >= 1 for w in v), "four integers >= 1"),
        ]
        rules += [(("coral_loss",), False, lambda v: v in ("paper", "normalized"), "'paper' or 'normalized'"),
                  (("lr_schedule",), False, lambda v: v in ("cosine", "constant"), "'cosine' or 'constant'"),
                  (("ctf_estimation",), False, lambda v: v in ("missing", "always", "never"),
                   "'missing', 'always' or 'never'"),
                  (("coral_encoder", "pseudo_label_encoder"), False, lambda v: v in ("target", "source"),
                   "'target' or 'source'"),
                  (("deploy_encoder",), False, lambda v: v in ("auto", "target", "source"),
                   "'auto', 'target' or 'source'")]
        for names, optional, ok, want in rules:
            for name in names:
                value = getattr(self, name, None)
                if hasattr(self, name) and not (value is None and optional) and not ok(value):
                    raise InputError(f"config.{name}", f"must be {want}, got {value!r}")
        for f in dataclasses.fields(self):
            if f.type is bool and not isinstance(getattr(self, f.name), bool):
                raise InputError(f"config.{f.name}", f"must be True or False, got {getattr(self, f.name)!r}")
        if self.alignment not in ("coral", "swd"):
            raise InputError("config.alignment", f"unknown alignment {self.alignment!r}; choose 'coral' or 'swd'")

    @classmethod
    def stage_fields(cls, *stages):
        """Names of the fields that any of ``stages`` reads ("split": the split's), in declaration order.

        Two runs whose configurations agree on these fields run those stages identically (with the
        same data and seed): :func:`~aitom.classify.deep.fsft.train`'s ``start_from`` and the shared
        stages of the baselines rely on it.

        Examples
        --------
        >>> FSFTConfig.stage_fields("split")
        ('shots', 'target_test_fraction', 'source_val_fraction', 'seed')
        """
        return tuple(f.name for f in dataclasses.fields(cls) if set(f.metadata.get("stages", ())) & set(stages))

    def replace(self, **changes):
        """A copy with some fields changed; unknown names raise ``TypeError``."""
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d):
        d = dict(d)
        if "widths" in d:
            d["widths"] = tuple(d["widths"])
        return cls(**d)
