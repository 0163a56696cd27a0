#!/usr/bin/env python3
"""Trains the two-hidden-layer digits VAE in PyTorch and writes its test-set ELBO to
tests/fixtures/torch/vae_deep_reference.json, for host/tests/cli_models.rs (which trains the same
network with `crabmix vae train --hidden 64,32 --latent 4` and compares).

  data       data/digits.csv, split data/digits_split.json (1437 train, 360 test rows), as
             scripts/torch_vae_reference.py loads them
  encoder    64 -> 64 ReLU -> 32 ReLU -> (mu: 32 -> 4, log sigma^2: 32 -> 4)
  decoder    4 -> 32 ReLU -> 64 ReLU -> 64 logits, Bernoulli likelihood (soft labels)
  init       Xavier-uniform weights, zero biases; Adam lr 1e-3, betas (0.9, 0.999); batch 32,
             train rows reshuffled each epoch; EPOCHS epochs; float32
  test ELBO  mean over the 360 test rows of the ELBO averaged over 16 draws of z each

Random streams differ from crabmix's, so the trained model's test ELBO is compared (mean of
SEEDS seeds), not a trajectory.

Regenerate:  bash scripts/prerequisites.sh fixtures && .venv-fixtures/bin/python scripts/torch_vae_deep_reference.py
"""

import pathlib
import sys
import time

import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torch_vae_reference import TEST_DRAWS, load, write_reference  # noqa: E402

HIDDEN = (64, 32)
LATENT = 4
EPOCHS = 50
BATCH = 32
LR = 1e-3
SEEDS = [0, 1, 2]


def mlp(sizes, last_relu):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes) or last_relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Vae(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = mlp((64,) + HIDDEN, True)
        self.mu = nn.Linear(HIDDEN[-1], LATENT)
        self.log_var = nn.Linear(HIDDEN[-1], LATENT)
        self.dec = mlp((LATENT,) + HIDDEN[::-1] + (64,), False)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def elbo(self, x, draws=1):
        h = self.enc(x)
        mu, lv = self.mu(h), self.log_var(h)
        kl = 0.5 * (lv.exp() + mu * mu - 1.0 - lv).sum(-1)
        ll = 0.0
        for _ in range(draws):
            z = mu + (0.5 * lv).exp() * torch.randn_like(mu)
            ll = ll - nn.functional.binary_cross_entropy_with_logits(self.dec(z), x, reduction="none").sum(-1)
        return ll / draws - kl


def train(seed, train_x, test_x):
    torch.manual_seed(seed)
    model = Vae()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    n = len(train_x)
    for _ in range(EPOCHS):
        perm = torch.randperm(n)
        for s in range(0, n, BATCH):
            loss = -model.elbo(train_x[perm[s : s + BATCH]]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return model.elbo(test_x, TEST_DRAWS).mean().item(), Vae().elbo(test_x, TEST_DRAWS).mean().item()


def main():
    train_x, test_x = load()
    runs = []
    for seed in SEEDS:
        t0 = time.time()
        elbo, untrained = train(seed, train_x, test_x)
        print(f"seed {seed}: test ELBO {elbo:.4f} (untrained {untrained:.4f}), {time.time() - t0:.1f} s")
        runs.append({"seed": seed, "test_elbo": elbo, "untrained_test_elbo": untrained})
    head = {
        "script": "scripts/torch_vae_deep_reference.py",
        "torch": torch.__version__,
        "hidden": list(HIDDEN),
        "latent": LATENT,
    }
    write_reference("vae_deep_reference.json", head, runs, EPOCHS, BATCH, LR)

if __name__ == "__main__":
    main()
