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

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "bench" / "peers")]
import torch_vae as peer  # noqa: E402  (the same network the throughput bench times)
from torch_vae_reference import TEST_DRAWS, load, write_reference  # noqa: E402

HIDDEN = (64, 32)
LATENT = 4
EPOCHS = 50
BATCH = 32
LR = 1e-3
SEEDS = [0, 1, 2]


def Vae():
    return peer.Vae(64, list(HIDDEN), LATENT)


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
