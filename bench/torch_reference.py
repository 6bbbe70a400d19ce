"""PyTorch re-implementation of the reference FSFT networks and training loops, for benchmarks only.

The networks follow the public reference (AITom ``few_shot/domain_adaptation/models/main_models.py``):
``conv_block`` = Conv3d 3x3x3 padding 1, BatchNorm3d, ReLU, MaxPool3d 2; Encoder1 = two blocks
(1 -> 16 -> 16), Encoder2 = two blocks (16 -> 16 -> 128) + flatten, a linear classifier, the
discriminator's 3D branch (CONV_DCD: two blocks over the 32-channel concatenation of two feature
maps, flatten, linear 128 -> 64) and its dense part (DCD: 256 -> 64 -> 64, concatenated with the 3D
branch, 128 -> 64 -> 4). Two deliberate differences, both applied to the TensorFlow side too so that
the two compute the same function: the convolutions have no bias (a bias before BatchNorm is
cancelled by it; the reference keeps one), and the classifier and D return logits (the reference
applies a softmax before ``CrossEntropyLoss``, a bug that changes the loss, not the cost).

The loops (:class:`TorchFSFT`) mirror what this project's stages do per step, with the data handled
the way the project handles it (rows gathered with NumPy fancy indexing and standardised with
:func:`aitom.image.normalize.standardize`), so that per-stage timings compare the
frameworks and not two data loaders. ``stage2_2(..., reference_algorithm=True)`` re-runs both
encoders on every discriminator batch, as the reference does; ``False`` precomputes the pools'
features once, as this project does.

``TorchFSFT(..., reference_faults=True)`` trains as the public reference does, faults included, for the
accuracy comparison of ``bench/reference_accuracy.py``: softmax before the cross-entropy (applied twice),
CORAL with the unsquared Frobenius norm ``||C_s - C_t||_F / 4d^2``, one BatchNorm per shared block for both
domains, stage 2.1 stopping at the smaller pool, no BatchNorm recalibration. It is scored the honest
way: the final model (not the best on the test set), in inference mode, on a target test set disjoint
from the shots (:meth:`TorchFSFT.predict`).

PyTorch is an optional bench dependency (``pip install torch``; CPU wheels suffice).
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from aitom.classify.deep.fsft.data import CROSS_DOMAIN_GROUPS, sample_pair_groups, stratified_pool
from aitom.image.normalize import standardize


def conv_block(cin, cout, bias=False):
    return nn.Sequential(nn.Conv3d(cin, cout, 3, padding=1, bias=bias), nn.BatchNorm3d(cout), nn.ReLU(),
                         nn.MaxPool3d(2))


class Encoder1(nn.Module):
    def __init__(self, widths=(16, 16)):
        super().__init__()
        self.encoder = nn.Sequential(conv_block(1, widths[0]), conv_block(widths[0], widths[1]))

    def forward(self, x):
        return self.encoder(x)


class Encoder2(nn.Module):
    def __init__(self, widths=(16, 16, 128)):
        super().__init__()
        self.conv1 = conv_block(widths[0], widths[1])
        self.conv2 = conv_block(widths[1], widths[2])

    def forward(self, x):
        return torch.flatten(self.conv2(self.conv1(x)), 1)


class ConvDCD(nn.Module):
    def __init__(self, feature_channels=16, z_dim=128, hidden=64):
        super().__init__()
        self.conv1 = conv_block(2 * feature_channels, 2 * feature_channels)
        self.conv2 = conv_block(2 * feature_channels, z_dim)
        self.fc1 = nn.Linear(z_dim, hidden)

    def forward(self, x):
        return self.fc1(torch.flatten(self.conv2(self.conv1(x)), 1))


class DCD(nn.Module):
    def __init__(self, z_dim=128, hidden=64):
        super().__init__()
        self.fc1 = nn.Linear(2 * z_dim, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(2 * hidden, hidden)
        self.fc4 = nn.Linear(hidden, 4)

    def forward(self, z, conv_features):
        h = F.relu(self.fc2(F.relu(self.fc1(z))))
        return self.fc4(F.relu(self.fc3(torch.cat([h, conv_features], 1))))


def classifier_network(n_classes, widths=(16, 16, 16, 128)):
    """Encoder (source) + linear classifier as one Sequential: the stage-1 network."""
    return nn.Sequential(Encoder1(widths[:2]), Encoder2(widths[1:]), nn.Linear(widths[3], n_classes))


def coral(zs, zt, squared=True):
    """Deep CORAL; ``squared=False`` is the reference's ``torch.norm(C_s - C_t) / (4 d^2)``."""
    d = zs.shape[1]
    cs, ct = torch.cov(zs.T), torch.cov(zt.T)
    diff = ((cs - ct) ** 2).sum()
    return (diff if squared else torch.sqrt(diff)) / (4 * d * d)


def to_tensor(x, channels_last=False):
    """(n, s, s, s) or (n, s, s, s, 1) float32 NumPy -> (n, 1, s, s, s) tensor."""
    x = np.asarray(x, np.float32)
    t = torch.from_numpy(x.reshape((x.shape[0], 1) + x.shape[1:4]))
    return t.contiguous(memory_format=torch.channels_last_3d) if channels_last else t


def load_batch(x, idx, channels_last=False):
    """Rows ``idx`` of ``x`` (sorted, as the project reads them), standardised, as a tensor."""
    return to_tensor(standardize(x[np.sort(idx)]), channels_last)


class TorchFSFT:
    """The four FSFT stages in PyTorch with the project's hyper-parameters (``FSFTConfig``)."""

    def __init__(self, box_size, n_classes, config, channels_last=False, seed=0, reference_faults=False):
        torch.manual_seed(seed)
        w = config.widths
        self.config, self.cl, self.n_classes = config, channels_last, n_classes
        self.faults = reference_faults
        self.f = {"source": Encoder1(w[:2]), "target": Encoder1(w[:2])}
        self.f0 = Encoder2(w[1:])
        self.g = nn.Linear(w[3], n_classes)
        self.conv_dcd = ConvDCD(w[1], w[3], config.dcd_hidden)
        self.dcd = DCD(w[3], config.dcd_hidden)
        if channels_last:
            for m in self.modules():
                m.to(memory_format=torch.channels_last_3d)

    def modules(self):
        return [self.f["source"], self.f["target"], self.f0, self.g, self.conv_dcd, self.dcd]

    def _train(self, flag):
        for m in self.modules():
            m.train(flag)

    def encode(self, x, domain):
        f = self.f[domain](x)
        return f, self.f0(f)

    def _ce(self, logits, labels):
        """Cross-entropy; with the reference's fault, of the softmax of the logits (softmax twice)."""
        return F.cross_entropy(F.softmax(logits, 1) if self.faults else logits, labels)

    def predict(self, x, idx, domain="target", batch=64):
        """Class ids of rows ``np.sort(idx)`` through ``domain``'s encoder, in inference mode (the honest score)."""
        self._train(False)
        idx = np.sort(idx)
        with torch.no_grad():
            return np.concatenate([self.g(self.encode(load_batch(x, idx[i:i + batch], self.cl), domain)[1])
                                   .argmax(1).numpy() for i in range(0, len(idx), batch)])

    def accuracy(self, x, y, idx, batch=64):
        self._train(False)
        correct = 0
        with torch.no_grad():
            for i in range(0, len(idx), batch):
                b = np.sort(idx[i:i + batch])
                pred = self.g(self.encode(load_batch(x, b, self.cl), "source")[1]).argmax(1).numpy()
                correct += int((pred == y[b]).sum())
        return correct / max(len(idx), 1)

    def stage1(self, data, epochs, seed=0):
        c = self.config
        params = list(self.f["source"].parameters()) + list(self.f0.parameters()) + list(self.g.parameters())
        opt = torch.optim.Adam(params, lr=c.lr_stage1)
        xs, ys, idx = data.source.x, np.asarray(data.source.y), data.split.source_train
        batch = min(c.batch_size, len(idx))
        for epoch in range(epochs):
            self._train(True)
            order = np.random.default_rng([seed, 0, epoch]).permutation(idx)
            for i in range(0, len(order) - batch + 1, batch):
                b = np.sort(order[i:i + batch])
                opt.zero_grad()
                loss = self._ce(self.g(self.encode(load_batch(xs, b, self.cl), "source")[1]), torch.from_numpy(ys[b]))
                loss.backward()
                opt.step()
            self.accuracy(xs, ys, data.split.source_val)

    def stage2_1(self, data, epochs, seed=0):
        c = self.config
        self.f["target"].load_state_dict(self.f["source"].state_dict())
        params = [p for m in (self.f["source"], self.f["target"], self.f0, self.g) for p in m.parameters()]
        opt = torch.optim.Adam(params, lr=c.lr_stage2_1)
        src, tgt = data.split.source_train, _unlabelled(data.split)
        ys = np.asarray(data.source.y)
        batch = min(c.coral_batch_size, len(src), len(tgt))
        for epoch in range(epochs):
            self._train(True)
            rng = np.random.default_rng([seed, 1, epoch])
            s, t = rng.permutation(src), rng.permutation(tgt)
            for i in range(0, min(len(s), len(t)) - batch + 1, batch):
                bs, bt = np.sort(s[i:i + batch]), np.sort(t[i:i + batch])
                opt.zero_grad()
                _, zs = self.encode(load_batch(data.source.x, bs, self.cl), "source")
                _, zt = self.encode(load_batch(data.target.x, bt, self.cl), "target")
                loss = (self._ce(self.g(zs), torch.from_numpy(ys[bs]))
                        + c.coral_alpha * coral(zs, zt, squared=not self.faults))
                loss.backward()
                opt.step()
            self.accuracy(data.source.x, ys, data.split.source_val)
        if not self.faults:
            self.recalibrate(data.target.x, _unlabelled(data.split))

    def recalibrate(self, x, idx, batch=64):
        """Target BatchNorm running statistics = mean of batch statistics (cumulative average)."""
        bns = [m for m in list(self.f["target"].modules()) + list(self.f0.modules()) if isinstance(m, nn.BatchNorm3d)]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None
        self._train(True)
        with torch.no_grad():
            for i in range(0, len(idx), batch):
                self.encode(load_batch(x, idx[i:i + batch], self.cl), "target")
        for bn in bns:
            bn.momentum = 0.1

    def stage2_2(self, data, epochs, reference_algorithm=True, seed=0):
        c, split = self.config, data.split
        ys, yt = np.asarray(data.source.y), np.asarray(data.target.y)
        pool = stratified_pool(ys, split.source_train, c.dcd_source_per_class, np.random.default_rng([seed, 2]))
        n_per_group = c.dcd_pairs_per_group or len(split.target_shots)
        batch = min(c.dcd_batch_size, 4 * n_per_group)
        for q in list(self.conv_dcd.parameters()) + list(self.dcd.parameters()):
            q.requires_grad_(True)
        opt = torch.optim.Adam(list(self.conv_dcd.parameters()) + list(self.dcd.parameters()), lr=c.lr_stage2_2)
        if not reference_algorithm:
            self._train(False)
            with torch.no_grad():
                fs, zs = self.encode(load_batch(data.source.x, pool, self.cl), "source")
                ft, zt = self.encode(load_batch(data.target.x, split.target_shots, self.cl), "target")
            feats, embs = torch.cat([fs, ft]), torch.cat([zs, zt])
        for epoch in range(epochs):
            p = sample_pair_groups(ys[pool], yt[split.target_shots], n_per_group, np.random.default_rng([seed, 2, epoch]))
            self.conv_dcd.train()
            self.dcd.train()
            for i in range(0, len(p["a"]) - batch + 1, batch):
                sl = slice(i, i + batch)
                a, b, bt, g = p["a"][sl], p["b"][sl], p["b_target"][sl], p["group"][sl]
                if reference_algorithm:  # encoders re-run on every batch (train mode, as the reference)
                    self._train(True)
                    with torch.no_grad():
                        xa = _unsorted_batch(data.source.x, pool[a], self.cl)
                        xb = _mixed_batch(data, pool, split.target_shots, b, bt, self.cl)
                        fa, za = self.encode(xa, "source")
                        # the reference sends every b through f_t, also source members of G1/G3
                        fb, zb = self.encode(xb, "target")
                else:
                    ia = torch.from_numpy(a)
                    ib = torch.from_numpy(b + np.where(bt, len(pool), 0))
                    fa, fb, za, zb = feats[ia], feats[ib], embs[ia], embs[ib]
                opt.zero_grad()
                logits = self.dcd(torch.cat([za, zb], 1), self.conv_dcd(torch.cat([fa, fb], 1)))
                loss = self._ce(logits, torch.from_numpy(g.astype(np.int64)))
                loss.backward()
                opt.step()

    def stage3(self, data, epochs, seed=0):
        c, split = self.config, data.split
        ys, yt = np.asarray(data.source.y), np.asarray(data.target.y)
        n_per_group = c.dcd_pairs_per_group or len(split.target_shots)
        batch = min(c.stage3_batch_size, 2 * n_per_group)
        params = [p for m in (self.f["source"], self.f["target"], self.f0, self.g) for p in m.parameters()]
        opt = torch.optim.Adam(params, lr=c.lr_stage3)
        for m in (self.conv_dcd, self.dcd):
            m.eval()
            for q in m.parameters():
                q.requires_grad_(False)
        for epoch in range(epochs):
            p = sample_pair_groups(ys[split.source_train], yt[split.target_shots], n_per_group,
                                   np.random.default_rng([seed, 3, epoch]), groups=CROSS_DOMAIN_GROUPS)
            for m in (self.f["source"], self.f["target"], self.f0, self.g):
                m.train()
            for i in range(0, len(p["a"]) - batch + 1, batch):
                sl = slice(i, i + batch)
                ia, ib = split.source_train[p["a"][sl]], split.target_shots[p["b"][sl]]
                xa = _unsorted_batch(data.source.x, ia, self.cl)
                xb = _unsorted_batch(data.target.x, ib, self.cl)
                opt.zero_grad()
                fa, za = self.encode(xa, "source")
                fb, zb = self.encode(xb, "target")
                dcd_labels = np.where(p["group"][sl] == 1, 0, 2)
                l_dcd = self._ce(self.dcd(torch.cat([za, zb], 1), self.conv_dcd(torch.cat([fa, fb], 1))),
                                 torch.from_numpy(dcd_labels))
                loss = (self._ce(self.g(za), torch.from_numpy(p["label_a"][sl].astype(np.int64)))
                        + self._ce(self.g(zb), torch.from_numpy(p["label_b"][sl].astype(np.int64)))
                        + c.gamma * l_dcd)
                loss.backward()
                opt.step()
            self.accuracy(data.source.x, ys, split.source_val)
        if not self.faults:
            self.recalibrate(data.target.x, _unlabelled(split))


def _unlabelled(split):
    return split.target_unlabelled if len(split.target_unlabelled) >= 2 else split.target_shots


def _unsorted_batch(x, idx, cl):
    return to_tensor(standardize(x[idx]), cl)


def _mixed_batch(data, pool, shots, b, b_target, cl):
    rows = np.empty((len(b),) + data.source.x.shape[1:], np.float32)
    rows[~b_target] = data.source.x[pool[b[~b_target]]]
    rows[b_target] = data.target.x[shots[b[b_target]]]
    return to_tensor(standardize(rows), cl)
