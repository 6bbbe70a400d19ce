"""The four FSFT stages, each usable alone: ``(networks, data, config, run) -> (networks, history)``.

Every stage runs a compiled training step under ``run.strategy`` with global batch sizes, draws its
epoch order from ``(config.seed, stage, epoch)`` so that a resumed run repeats the same sequence,
saves a checkpoint after every epoch, and stops on a non-finite loss or non-finite weights naming the
stage and step (the last good checkpoint stays current).
"""
import dataclasses

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm


from .checkpoint import CheckpointStore
from .models import DOMAINS
from .precision import scaled_gradients, stage_optimizer
from .data import (CROSS_DOMAIN_GROUPS, augmentation_codes, batch_dataset, cycled_permutation, pair_dataset,
                   sample_pair_groups, stratified_pool)
from .pseudo_labels import select_pseudo_labels
from .losses import (G1_SAME_DOMAIN_SAME_CLASS, G3_SAME_DOMAIN_DIFFERENT_CLASS, confusion_targets, coral,
                     cross_entropy, sliced_wasserstein)
from aitom.image.normalize import standardize

STAGES = ("1", "2.1", "2.2", "3")


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite (a ``RuntimeError``); the message names the stage and the epoch.

    Examples
    --------
    >>> from aitom.classify.deep.fsft import TrainingDivergedError
    >>> try:
    ...     result = train(source, target, lr_stage1=1e6)  # doctest: +SKIP
    ... except TrainingDivergedError as err:
    ...     print(err)  # doctest: +SKIP
    """


@dataclasses.dataclass
class StageData:
    """The two data sets (``aitom.io.dataset.SubtomogramSet``) and the few-shot split."""

    source: object
    target: object
    split: object


@dataclasses.dataclass
class RunContext:
    """How stages run: strategy, checkpoints, progress bars, and the state to resume from."""

    strategy: tf.distribute.Strategy = None
    store: CheckpointStore = None
    progress: bool = False
    resume: dict = None
    extra_state: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.strategy is None:
            self.strategy = tf.distribute.get_strategy()


def _stage_code(stage):
    return STAGES.index(stage)


def _network_objects(networks):
    return {name: model.weights for name, model in networks.components().items()}


def predict_logits(networks, domain, x, indices, batch_size=64, rotations=None):
    """Logits (len(indices), k) of the given rows of ``x``, in inference mode, in index order.

    ``rotations``: average over the four 180° rotations (:mod:`.averaging`); default
    ``networks.config.rotation_averaging``.
    """
    rotations = networks.config.rotation_averaging if rotations is None else rotations
    indices = np.asarray(indices)
    order = np.argsort(indices, kind="stable")
    out = [networks.logits(xb, domain, training=False, rotations=rotations).numpy()
           for xb, _ in batch_dataset(x, None, indices[order], batch_size)]
    logits = np.concatenate(out) if out else np.zeros((0, networks.n_classes), np.float32)
    result = np.empty_like(logits)
    result[order] = logits
    return result


def accuracy(networks, domain, subset, indices, batch_size=64, rotations=None):
    """Fraction of ``subset``'s rows at ``indices`` whose label is predicted (nan if none); ``rotations``
    as in :func:`predict_logits`."""
    if len(indices) == 0:
        return float("nan")
    pred = predict_logits(networks, domain, subset.x, indices, batch_size, rotations).argmax(1)
    return float(np.mean(pred == np.asarray(subset.y)[indices]))


def recalibrate_batchnorm(networks, domain, x, indices, batch_size=64, seed=0):
    """Set ``domain``'s BatchNorm moving statistics to the population moments of ``x[indices]``.

    The rows are visited once in a random order drawn from ``seed`` (data sets are often stored class
    by class: a sorted walk would give batches of one class, whose variances miss the between-class
    variance). Each batch runs through the encoder in training mode without gradient steps; per layer,
    the batch means and variances are combined by the law of total variance,
    ``var = E_b[var_b] + Var_b[mean_b]`` (weighted by batch size): for the first BatchNorm this is the
    exact variance over all rows whatever the order and batch size; deeper layers see activations
    normalised with batch statistics upstream, as in any such recalibration.
    """
    bns = networks.batchnorm_layers(domain)
    saved = [bn.momentum for bn in bns]
    sum1 = [np.zeros(bn.moving_mean.shape, np.float64) for bn in bns]  # sum of n_b * mean_b
    sum2 = [np.zeros(bn.moving_mean.shape, np.float64) for bn in bns]  # sum of n_b * (var_b + mean_b^2)
    indices = np.random.default_rng(seed).permutation(np.asarray(indices, dtype=np.int64))
    try:
        for bn in bns:
            bn.momentum = 0.0  # after each call the moving statistics hold that batch's statistics
        for i in range(0, len(indices), batch_size):
            rows = np.sort(indices[i:i + batch_size])
            networks.encode(tf.constant(standardize(np.asarray(x[rows]))[..., None]), domain, training=True)
            for bn, s1, s2 in zip(bns, sum1, sum2):
                m, v = bn.moving_mean.numpy().astype(np.float64), bn.moving_variance.numpy().astype(np.float64)
                s1 += len(rows) * m
                s2 += len(rows) * (v + m * m)
        for bn, s1, s2 in zip(bns, sum1, sum2) if len(indices) else ():
            mean = s1 / len(indices)
            bn.moving_mean.assign(mean.astype(np.float32))
            bn.moving_variance.assign(np.maximum(s2 / len(indices) - mean * mean, 0.0).astype(np.float32))
    finally:
        for bn, m in zip(bns, saved):
            bn.momentum = m


def _fit(stage, networks, run, epochs, optimizer, variables, step, epoch_dataset, evaluate=None,
         extra_optimizers=None, round_=0):
    """Shared epoch loop: distributed compiled step, progress, NaN guard, checkpoints, resume.

    ``extra_optimizers``: ``{name: (optimizer, variables)}`` that ``step`` also applies (stage 3's
    alternating D); they are built and checkpointed with the main one. ``round_``: stage 3's
    self-training round (0: the stage itself); it has its own epoch draws, checkpoints and resume point.
    """
    strategy = run.strategy
    extra_optimizers = extra_optimizers or {}
    with strategy.scope():
        optimizer.build(variables)
        for opt, opt_variables in extra_optimizers.values():
            opt.build(opt_variables)
    objects = dict(_network_objects(networks), optimizer=optimizer.variables,
                   **{name: opt.variables for name, (opt, _) in extra_optimizers.items()})
    history, start = {}, 0
    if (run.resume is not None and run.resume["state"].get("stage") == stage and not run.resume["state"].get("done")
            and run.resume["state"].get("round", 0) == round_):
        run.store.restore(run.resume, objects)
        history = run.resume["state"]["history"]
        start = run.resume["state"]["epoch"]
        run.resume = None

    # NaN in the data can leave the loss finite (ReLU and max-pooling drop it) while the weights turn NaN
    trained = list(variables) + [v for _, opt_variables in extra_optimizers.values() for v in opt_variables]

    @tf.function
    def distributed_step(*batch):
        out = strategy.run(step, args=batch)
        out = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in out.items()}
        return out, tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in trained])

    name = f"stage {stage}" + (f", self-training round {round_}" if round_ else "")
    bar = tqdm(total=epochs, initial=start, desc=name, unit="epoch", disable=not run.progress, leave=False)
    for epoch in range(start, epochs):
        rng = np.random.default_rng([networks.config.seed, _stage_code(stage), epoch] + ([round_] if round_ else []))
        sums, n_steps = {}, 0
        for batch in strategy.experimental_distribute_dataset(epoch_dataset(rng)):
            out, weights_finite = distributed_step(*batch)
            values = {k: float(v) for k, v in out.items()}
            if not all(np.isfinite(v) for v in values.values()):
                raise TrainingDivergedError(
                    f"{name}, epoch {epoch + 1}, step {n_steps + 1}: loss is not finite ({values}); "
                    f"the last good checkpoint is kept")
            if not bool(weights_finite):
                raise TrainingDivergedError(
                    f"{name}, epoch {epoch + 1}, step {n_steps + 1}: weights are not finite after this step "
                    f"(loss {values}); NaN or infinite values in the data? The last good checkpoint is kept")
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v
            n_steps += 1
        record = {k: v / max(n_steps, 1) for k, v in sums.items()}
        if evaluate is not None:
            record.update(evaluate())
        for k, v in record.items():
            history.setdefault(k, []).append(v)
        bar.set_postfix({k: f"{v:.3g}" for k, v in record.items()})
        bar.update(1)
        if run.store is not None:
            run.store.save(f"stage{stage}" + (f"-round{round_}" if round_ else "") + f"-epoch{epoch + 1:04d}", objects,
                           dict(run.extra_state, stage=stage, round=round_, epoch=epoch + 1, history=history))
    bar.close()
    return history


def _source_val_eval(networks, data):
    """Per-epoch source validation accuracy: monitoring, so one pass (no rotation averaging); None (no
    per-epoch score) without source validation rows, e.g. ``source_val_fraction=0`` or the ceiling's training."""
    if len(data.split.source_val) == 0:
        return None
    return lambda: {"source_val_acc": accuracy(networks, "source", data.source, data.split.source_val,
                                               rotations=False)}


def _adam(lr, config, epochs, steps_per_epoch):
    """Adam at ``lr``; with ``config.lr_schedule == 'cosine'`` the rate decays along a half cosine to 0
    over the stage's ``epochs * steps_per_epoch`` steps (the optimizer's step count is checkpointed, so a
    resumed stage continues the schedule)."""
    if config.lr_schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=max(1, epochs * steps_per_epoch))
    return stage_optimizer(keras.optimizers.Adam(learning_rate=lr), config)  # loss scaling if mixed precision


_STAGE_SECTIONS = """Parameters
    ----------
    networks : aitom.classify.deep.fsft.models.FSFTNetworks
        Trained in place.
    data : aitom.classify.deep.fsft.stages.StageData
        Source and target sets and the few-shot split.
    config : FSFTConfig
    run : aitom.classify.deep.fsft.stages.RunContext, optional
        Strategy, checkpoint store, progress bar and resume state (default: none of them).

    Returns
    -------
    networks : FSFTNetworks
        The same object.
    history : dict of str to list of float
        One value per epoch for each recorded quantity (``"loss"`` and the stage's terms).

    Raises
    ------
    TrainingDivergedError
        If a loss becomes NaN or infinite.
"""


def _stage_function(fn):
    """Fill ``{stage_sections}`` in a stage function's docstring: the sections all four stages share."""
    if fn.__doc__:  # None under python -OO
        fn.__doc__ = fn.__doc__.replace("{stage_sections}\n", _STAGE_SECTIONS)
    return fn


@_stage_function
def stage1_source(networks, data, config, run=None):
    """Stage 1: train f_0∘f_s and g with cross-entropy on the labelled source training set.

    {stage_sections}

    Examples
    --------
    >>> import numpy as np
    >>> from aitom.classify.deep.fsft import FSFTConfig, stage1_source
    >>> from aitom.classify.deep.fsft.data import few_shot_split
    >>> from aitom.classify.deep.fsft.models import FSFTNetworks
    >>> from aitom.classify.deep.fsft.stages import StageData
    >>> from aitom.io.dataset import SubtomogramSet
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 12)
    >>> def domain(shift):
    ...     x = rng.normal(size=(24, 16, 16, 16)).astype(np.float32)
    ...     x[y == 1, 4:8, 4:8, 4:8] += 3.0 + shift
    ...     return SubtomogramSet(x, y, ("a", "b"))
    >>> source, target = domain(0.0), domain(1.0)
    >>> config = FSFTConfig(epochs_stage1=2, epochs_stage2_1=1, epochs_stage2_2=1, epochs_stage3=1, batch_size=8,
    ...                     coral_batch_size=8, dcd_batch_size=8, stage3_batch_size=4, dcd_source_per_class=5,
    ...                     shots=3)
    >>> data = StageData(source, target, few_shot_split(source.y, target.y, ("a", "b"), shots=3))
    >>> networks = FSFTNetworks(16, 2, config)
    >>> networks, history = stage1_source(networks, data, config)
    >>> len(history["loss"])
    2
    """
    run = run or RunContext()
    variables = networks.encoder_variables(("source",)) + networks.classifier.trainable_variables
    idx = data.split.source_train
    batch = min(config.batch_size, len(idx))
    with run.strategy.scope():
        optimizer = _adam(config.lr_stage1, config, config.epochs_stage1, len(idx) // batch)

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = cross_entropy(y, networks.logits(x, "source", training=True), batch)
        optimizer.apply_gradients(zip(scaled_gradients(tape, loss, variables, optimizer), variables))
        return {"loss": loss}

    def epoch_dataset(rng):
        return batch_dataset(data.source.x, data.source.y, idx, batch, seed=int(rng.integers(2**31)), drop_remainder=True,
                             augment_seed=_augment_seed(config, rng))

    history = _fit("1", networks, run, config.epochs_stage1, optimizer, variables, step, epoch_dataset,
                   _source_val_eval(networks, data))
    return networks, history


def _alignment_loss(config, optimizer):
    """(history key, weight, loss(z_s, z_t)) of stage 2.1's distribution distance ``config.alignment``."""
    if config.alignment == "coral":  # FSFTConfig allows 'coral' and 'swd' only
        normalized = config.coral_loss == "normalized"
        return "coral", float(config.coral_alpha), lambda zs, zt: coral(zs, zt, normalized=normalized)
    def swd(zs, zt):  # fresh directions every step, reproducible from (seed, step)
        seed = tf.stack([tf.constant(config.seed, tf.int64), tf.cast(optimizer.iterations, tf.int64)])
        return sliced_wasserstein(zs, zt, config.swd_projections, seed=seed)
    return "swd", float(config.swd_alpha), swd


@_stage_function
def stage2_1_coral(networks, data, config, run=None):
    """Stage 2.1: f_t starts as a copy of f_s; train with cross-entropy + α·CORAL.

    ``config.coral_encoder='source'`` sends the target batch through f_s instead of f_t (one encoder
    for both domains, as Deep CORAL) and copies the aligned f_s into f_t at the end.

    Each step takes a labelled source batch and an unlabelled target batch of the same size
    (``coral_batch_size``, lowered to the smaller pool when a pool is smaller); an epoch is one pass over
    the source training set, the target pool being cycled as often as needed. With
    ``config.alignment='swd'`` the distance is the sliced Wasserstein distance, weighted by ``swd_alpha``.

    {stage_sections}

    Examples
    --------
    After :func:`stage1_source` (its example builds ``networks``, ``data`` and ``config``):

    >>> networks, history = stage2_1_coral(networks, data, config)  # doctest: +SKIP
    >>> history["coral"]  # doctest: +SKIP
    """
    run = run or RunContext()
    resuming = run.resume is not None and run.resume["state"].get("stage") == "2.1"
    if not resuming:
        networks.target_from_source()
    through = config.coral_encoder  # the encoder the target batch goes through
    domains = ("source",) if through == "source" else DOMAINS  # f_t untrained when the target uses f_s
    variables = networks.encoder_variables(domains) + networks.classifier.trainable_variables
    src, tgt = data.split.source_train, _unlabelled_pool(data.split)
    batch = min(config.coral_batch_size, len(src), len(tgt))
    if batch < 2:
        raise ValueError("stage 2.1 needs at least two unlabelled target subtomograms for a covariance")
    with run.strategy.scope():
        optimizer = _adam(config.lr_stage2_1, config, config.epochs_stage2_1, len(src) // batch)
    key, alpha, distance = _alignment_loss(config, optimizer)

    def step(xs, ys, xt, _):
        with tf.GradientTape() as tape:
            _, zs = networks.encode(xs, "source", training=True)
            _, zt = networks.encode(xt, through, training=True)
            ce = cross_entropy(ys, networks.classifier(zs, training=True), batch)
            c = distance(zs, zt)
            loss = ce + alpha * c
        optimizer.apply_gradients(zip(scaled_gradients(tape, loss, variables, optimizer), variables))
        return {"loss": loss, "cross_entropy": ce, key: c}

    def epoch_dataset(rng):
        """One pass over the source training set; the smaller target pool is cycled, reshuffled each pass."""
        s = batch_dataset(data.source.x, data.source.y, src, batch, seed=int(rng.integers(2**31)), drop_remainder=True,
                          augment_seed=_augment_seed(config, rng))
        n_target = (len(src) // batch) * batch
        t = batch_dataset(data.target.x, None, tgt[cycled_permutation(len(tgt), n_target, rng)], batch,
                          drop_remainder=True, augment_seed=_augment_seed(config, rng))
        return tf.data.Dataset.zip(s, t).map(lambda a, b: (a[0], a[1], b[0], b[1]))

    history = _fit("2.1", networks, run, config.epochs_stage2_1, optimizer, variables, step, epoch_dataset,
                   _source_val_eval(networks, data))
    if through == "source":
        networks.target_from_source()
    if config.recalibrate_target_bn:
        calibrate_target_batchnorm(networks, data, config)
    return networks, history


def _unlabelled_pool(split):
    """Target subtomograms usable without labels: the unlabelled pool, else the shots."""
    return split.target_unlabelled if len(split.target_unlabelled) >= 2 else split.target_shots


def calibrate_target_batchnorm(networks, data, config):
    """Set the target BatchNorm statistics from the target data the method may use.

    ``recalibrate_target_bn`` (methods that use unlabelled target data: FSFT, CORAL): the unlabelled
    pool. Otherwise (labelled-data methods: fine-tune, FADA): the labelled shots, so that target
    subtomograms are never normalised with statistics copied from the source domain.
    """
    rows = _unlabelled_pool(data.split) if config.recalibrate_target_bn else data.split.target_shots
    recalibrate_batchnorm(networks, "target", data.target.x, rows, seed=config.seed)


def _pairs_per_group(config, n_labelled_target):
    """Pairs of each group per epoch: ``config.dcd_pairs_per_group``, else one per labelled target row."""
    return config.dcd_pairs_per_group or n_labelled_target


def _encode_rows(networks, domain, x, indices, batch_size=64):
    f, z = [], []
    for xb, _ in batch_dataset(x, None, indices, batch_size):
        fb, zb = networks.encode(xb, domain, training=False)
        f.append(fb.numpy())
        z.append(zb.numpy())
    return np.concatenate(f), np.concatenate(z)


@_stage_function
def stage2_2_discriminator(networks, data, config, run=None):
    """Stage 2.2: train D on the four pair groups from source ∪ labelled target; encoders frozen.

    The frozen encoders' feature maps and embeddings of the pair pools (``dcd_source_per_class``
    source subtomograms per class, and the target shots) are computed once in inference mode; each
    epoch draws fresh balanced pairs and gathers their features on the graph.

    {stage_sections}

    Examples
    --------
    After :func:`stage2_1_coral`:

    >>> networks, history = stage2_2_discriminator(networks, data, config)  # doctest: +SKIP
    >>> history["pair_acc"]  # doctest: +SKIP
    """
    run = run or RunContext()
    split, ys, yt = data.split, np.asarray(data.source.y), np.asarray(data.target.y)
    pool = stratified_pool(ys, split.source_train, config.dcd_source_per_class,
                           np.random.default_rng([config.seed, _stage_code("2.2")]))
    fs, zs = _encode_rows(networks, "source", data.source.x, pool)
    ft, zt = _encode_rows(networks, "target", data.target.x, split.target_shots)
    features = tf.constant(np.concatenate([fs, ft]))
    embeddings = tf.constant(np.concatenate([zs, zt]))
    n_per_group = _pairs_per_group(config, len(split.target_shots))
    batch = min(config.dcd_batch_size, 4 * n_per_group)
    variables = networks.discriminator.trainable_variables
    with run.strategy.scope():
        optimizer = _adam(config.lr_stage2_2, config, config.epochs_stage2_2, 4 * n_per_group // batch)
    disc = networks.discriminator

    def step(fa, fb, za, zb, group):
        with tf.GradientTape() as tape:
            logits = disc([fa, fb, za, zb], training=True)
            loss = cross_entropy(group, logits, batch)
        optimizer.apply_gradients(zip(scaled_gradients(tape, loss, variables, optimizer), variables))
        correct = tf.reduce_sum(tf.cast(tf.argmax(logits, 1, output_type=tf.int32) == group, tf.float32))
        return {"loss": loss, "pair_acc": correct / batch}

    def epoch_dataset(rng):
        p = sample_pair_groups(ys[pool], yt[split.target_shots], n_per_group, rng)
        ia = p["a"]
        ib = p["b"] + np.where(p["b_target"], len(pool), 0)
        ds = tf.data.Dataset.from_tensor_slices((ia, ib, p["group"].astype(np.int32)))
        ds = ds.batch(batch, drop_remainder=True)
        return ds.map(lambda a, b, g: (tf.gather(features, a), tf.gather(features, b),
                                       tf.gather(embeddings, a), tf.gather(embeddings, b), g))

    history = _fit("2.2", networks, run, config.epochs_stage2_2, optimizer, variables, step, epoch_dataset)
    return networks, history


def _augment_seed(config, rng):
    """A seed for the epoch's augmentation codes (drawn from ``rng`` either way, so that turning
    ``config.augment`` off leaves every other draw of the epoch unchanged), or None without augmentation."""
    seed = int(rng.integers(2**31))
    return seed if config.augment else None


@_stage_function
def stage3_finetune(networks, data, config, run=None):
    """Stage 3: D frozen; fine-tune f_s, f_t, f_0 and g with γ·L_DCD + L_S + L_T.

    Batches hold cross-domain pairs (G2, G4): a source subtomogram through f_s and a labelled target
    subtomogram through f_t. L_S and L_T are the pair members' cross-entropies; L_DCD is D's
    cross-entropy with G2 labelled as G1 and G4 as G3, so the encoders learn to make D confuse them.

    Variants (all from ``config``): ``stage3_alternating`` first updates D in every step, GAN-style
    (FADA), on the step's cross-domain pairs plus as many same-domain pairs (G1, G3) drawn from the
    source training set, encoded by the current encoders; ``gamma = 0`` without alternation drops D
    (the fine-tune baseline); ``stage3_source_weight`` weights L_S (0: target shots only).

    BatchNorm (``stage3_freeze_bn``, default True): the encoders run with their moving statistics, as
    at inference, and the statistics stay as they were (the target ones were set from target data
    before this stage). Batches of 10-20 shots give noisy batch statistics, the deployed network
    normalises with population ones, and D was trained in stage 2.2 on inference-mode features: with
    frozen statistics the network is trained, judged by D and deployed in one and the same mode.

    CORAL term (``stage3_coral_alpha``, not in the paper; 0 by default): each step also takes as many
    unlabelled pool subtomograms as pairs, through ``coral_encoder``, and adds α·CORAL between their embeddings
    and the pairs' source embeddings, so that the alignment of stage 2.1 is trained on through stage 3 and its
    rounds. The source embeddings are a fixed reference (no gradient through them): with BatchNorm frozen nothing
    else fixes the embeddings' scale, and a term free to move both sides was lowered by shrinking both, until f_s
    mapped every subtomogram to one point (chance accuracy on the benchmark, doc/results/tuning_stage3_coral/).
    The pool batches are drawn after the pairs: the pairs are those of a run without the term.

    Self-training (``self_training_rounds``, not in the paper): after the stage, each round labels the
    unlabelled pool with the network's class-balanced confident predictions (``pseudo_label_fraction``
    of it, :mod:`.pseudo_labels`) and trains the stage again, fresh optimizer, with the shots plus those
    rows as the labelled target. ``history["round"]`` says which round each epoch belongs to.

    {stage_sections}

    Examples
    --------
    After :func:`stage2_2_discriminator`:

    >>> networks, history = stage3_finetune(networks, data, config)  # doctest: +SKIP
    >>> history["dcd"], history["target_ce"]  # doctest: +SKIP
    """
    run = run or RunContext()
    split, yt = data.split, np.asarray(data.target.y)
    resumed = run.resume["state"] if run.resume is not None and run.resume["state"].get("stage") == "3" else {}
    first = resumed.get("round", 0)  # a run killed in a self-training round resumes in it
    history, rows, labels = {}, split.target_shots, yt[split.target_shots]
    if first:
        history = {k: list(v) for k, v in resumed["stage3_rounds_history"].items()}
        rows, labels = (np.asarray(v, np.int64) for v in resumed["stage3_labelled_target"])
    base_state = dict(run.extra_state)
    for round_ in range(first, config.self_training_rounds + 1):
        if round_ > first:
            rows, labels = _with_pseudo_labels(networks, data, config)
            if len(rows) == len(split.target_shots):  # no pool, or too small for one row per class: no round
                break
        run.extra_state = dict(base_state, stage3_rounds_history=history,
                               stage3_labelled_target=[rows.tolist(), labels.tolist()])
        part = _stage3_fit(networks, data, config, run, rows, labels, round_)
        for k, v in part.items():
            history.setdefault(k, []).extend(v)
        history.setdefault("round", []).extend([round_] * len(part.get("loss", [])))
    run.extra_state = base_state
    if not config.stage3_freeze_bn and config.recalibrate_target_bn:
        calibrate_target_batchnorm(networks, data, config)
    return networks, history


def _with_pseudo_labels(networks, data, config):
    """The shots plus the pool's class-balanced confident predictions (:mod:`.pseudo_labels`) through the
    ``config.pseudo_label_encoder``: rows and labels."""
    split = data.split
    pool = split.target_unlabelled
    logits = predict_logits(networks, config.pseudo_label_encoder, data.target.x, pool)
    probabilities = tf.nn.softmax(logits).numpy()
    positions, predicted = select_pseudo_labels(probabilities, config.pseudo_label_fraction)
    rows = np.concatenate([split.target_shots, pool[positions]])
    labels = np.concatenate([np.asarray(data.target.y)[split.target_shots], predicted])
    order = np.argsort(rows, kind="stable")
    return rows[order].astype(np.int64), labels[order].astype(np.int64)


def _stage3_fit(networks, data, config, run, target_rows, target_labels, round_):
    """One pass of stage 3's training with ``target_rows`` labelled ``target_labels`` as the target side."""
    split, ys = data.split, np.asarray(data.source.y)
    epochs = config.epochs_stage3 if round_ == 0 or config.self_training_epochs is None else config.self_training_epochs
    n_per_group = _pairs_per_group(config, len(target_rows))
    batch = min(config.stage3_batch_size, 2 * n_per_group)
    variables = networks.encoder_variables() + networks.classifier.trainable_variables
    with run.strategy.scope():
        optimizer = _adam(config.lr_stage3, config, epochs, 2 * n_per_group // batch)
    gamma, w_source = float(config.gamma), float(config.stage3_source_weight)
    w_target_source = float(config.stage3_source_target_weight)
    alternating = bool(config.stage3_alternating)
    use_dcd = alternating or gamma != 0.0
    disc = networks.discriminator
    extra = {}
    if alternating:
        d_variables = disc.trainable_variables
        with run.strategy.scope():
            d_optimizer = _adam(config.lr_stage2_2, config, epochs, 2 * n_per_group // batch)
        extra["optimizer_D"] = (d_optimizer, d_variables)
    bn_training = not config.stage3_freeze_bn
    coral_alpha, through = float(config.stage3_coral_alpha), config.coral_encoder
    pool = _unlabelled_pool(split) if coral_alpha else None
    if coral_alpha and batch < 2:
        raise ValueError("stage 3's CORAL term needs stage-3 batches of at least two pairs for a covariance")
    normalized = config.coral_loss == "normalized"

    def d_step(xa, xb, group, xa2, xb2, group2):
        """One D update on the four groups: cross-domain pairs (xa, xb), same-domain pairs (xa2, xb2)."""
        fa, za = networks.encode(tf.concat([xa, xa2], 0), "source", training=bn_training)
        fb_t, zb_t = networks.encode(xb, "target", training=bn_training)
        fb_s, zb_s = networks.encode(xb2, "source", training=bn_training)
        fb, zb = tf.concat([fb_t, fb_s], 0), tf.concat([zb_t, zb_s], 0)
        with tf.GradientTape() as tape:
            loss = cross_entropy(tf.concat([group, group2], 0), disc([fa, fb, za, zb], training=True), 2 * batch)
        d_optimizer.apply_gradients(zip(scaled_gradients(tape, loss, d_variables, d_optimizer), d_variables))
        return loss

    def step(xa, ya, xb, yb, group, *rest):
        same_domain, x_pool = (rest[:-1], rest[-1]) if coral_alpha else (rest, None)
        out = {"d_loss": d_step(xa, xb, group, *same_domain)} if alternating else {}
        with tf.GradientTape() as tape:
            fa, za = networks.encode(xa, "source", training=bn_training)
            fb, zb = networks.encode(xb, "target", training=bn_training)
            l_s = cross_entropy(ya, networks.classifier(za, training=True), batch)
            l_t = cross_entropy(yb, networks.classifier(zb, training=True), batch)
            loss = w_source * l_s + l_t
            if w_target_source:
                _, zb_s = networks.encode(xb, "source", training=bn_training)
                out["target_ce_source"] = cross_entropy(yb, networks.classifier(zb_s, training=True), batch)
                loss = loss + w_target_source * out["target_ce_source"]
            if use_dcd:
                l_dcd = cross_entropy(confusion_targets(group), disc([fa, fb, za, zb], training=False), batch)
                loss = loss + gamma * l_dcd
                out["dcd"] = l_dcd
            if coral_alpha:
                _, z_pool = networks.encode(x_pool, through, training=bn_training)
                out["coral"] = coral(tf.stop_gradient(za), z_pool, normalized=normalized)  # (a fixed reference)
                loss = loss + coral_alpha * out["coral"]
        optimizer.apply_gradients(zip(scaled_gradients(tape, loss, variables, optimizer), variables))
        return dict(out, loss=loss, source_ce=l_s, target_ce=l_t)

    def pairs(x_b, groups, rng):
        """Pairs of ``groups`` with ``a`` from the source training set and ``b`` from ``x_b``'s labelled
        target rows (cross-domain groups) or the source training set: batches ``(x_a, x_b, label_a, label_b,
        group)``."""
        p = sample_pair_groups(ys[split.source_train], target_labels, n_per_group, rng, groups=groups)
        b = (target_rows if p["b_target"].all() else split.source_train)[p["b"]]
        n = len(b)
        return pair_dataset(data.source.x, x_b, split.source_train[p["a"]], b, batch,
                            augmentation_codes(n, _augment_seed(config, rng)),
                            augmentation_codes(n, _augment_seed(config, rng)),
                            extra=(p["label_a"].astype(np.int32), p["label_b"].astype(np.int32),
                                   p["group"].astype(np.int32)))

    def pool_batches(n_batches, rng):
        """``n_batches`` unlabelled target batches of ``batch``: the pool cycled, reshuffled each pass."""
        rows = pool[cycled_permutation(len(pool), n_batches * batch, rng)]
        return batch_dataset(data.target.x, None, rows, batch, drop_remainder=True,
                             augment_seed=_augment_seed(config, rng)).map(lambda x, _: x)

    def epoch_dataset(rng):
        cross = pairs(data.target.x, CROSS_DOMAIN_GROUPS, rng)
        streams = [cross.map(lambda xa, xb, ya, yb, g: (xa, ya, xb, yb, g))]
        if alternating:
            same = pairs(data.source.x, (G1_SAME_DOMAIN_SAME_CLASS, G3_SAME_DOMAIN_DIFFERENT_CLASS), rng)
            streams.append(same.map(lambda xa, xb, ya, yb, g: (xa, xb, g)))
        if coral_alpha:  # drawn last, so that the pairs are those of a run without the term
            streams.append(pool_batches(2 * n_per_group // batch, rng).map(lambda x: (x,)))
        if len(streams) == 1:
            return streams[0]
        return tf.data.Dataset.zip(*streams).map(lambda *parts: sum(parts, ()))

    return _fit("3", networks, run, epochs, optimizer, variables, step, epoch_dataset,
                _source_val_eval(networks, data), extra_optimizers=extra, round_=round_)
