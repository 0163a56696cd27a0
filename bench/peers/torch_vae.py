#!/usr/bin/env python3
"""Times VAE training epochs in PyTorch eager on the CPU, the peer of bench/src/bin/vae-throughput.rs.

Usage: torch_vae.py MANIFEST.json > RESULT.json. For each workload of the manifest (a CSV of
rows in [0, 1], the encoder's hidden widths, latent Z, batch, epochs, threads) it builds the
network crabmix trains — encoder X -> h1 -> ... -> hk (ReLU) -> (mu, log sigma^2: hk -> Z each),
decoder Z -> hk -> ... -> h1 (ReLU) -> X Bernoulli logits, Xavier-uniform weights, Adam 1e-3,
float32 — and trains it for `epochs` epochs of shuffled minibatches (the last one smaller),
timing each epoch. It reports the median epoch's samples per second.
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn


def mlp(sizes, last_relu):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes) or last_relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Vae(nn.Module):
    def __init__(self, x, hidden, z):
        super().__init__()
        self.enc = mlp([x] + hidden, True)
        self.mu = nn.Linear(hidden[-1], z)
        self.log_var = nn.Linear(hidden[-1], z)
        self.dec = mlp([z] + hidden[::-1] + [x], False)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def elbo(self, x, draws=1):
        """Per-row ELBO, ln p(x|z) averaged over `draws` reparameterized z, minus the KL."""
        h = self.enc(x)
        mu, lv = self.mu(h), self.log_var(h)
        kl = 0.5 * (lv.exp() + mu * mu - 1.0 - lv).sum(-1)
        ll = 0.0
        for _ in range(draws):
            z = mu + (0.5 * lv).exp() * torch.randn_like(mu)
            ll = ll - nn.functional.binary_cross_entropy_with_logits(self.dec(z), x, reduction="none").sum(-1)
        return ll / draws - kl

    def loss(self, x):
        return -self.elbo(x).mean()


def main():
    manifest = json.load(open(sys.argv[1]))
    out = []
    for w in manifest["workloads"]:
        torch.set_num_threads(w["threads"])
        torch.manual_seed(0)
        x = torch.from_numpy(np.loadtxt(w["path"], delimiter=",", dtype=np.float32, ndmin=2, skiprows=int(w["header"])))
        n = len(x)
        model = Vae(x.shape[1], list(w["hidden"]), w["latent"])
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        times = []
        for _ in range(w["epochs"]):
            t = time.perf_counter()
            perm = torch.randperm(n)
            for s in range(0, n, w["batch"]):
                loss = model.loss(x[perm[s : s + w["batch"]]])
                opt.zero_grad()
                loss.backward()
                opt.step()
            times.append(time.perf_counter() - t)
        out.append({"name": w["name"], "samples_per_s": n / float(np.median(times)), "torch": torch.__version__})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
