#!/usr/bin/env python3
"""Writes the PyTorch fixtures for the VAE/WGAN kernels to tests/fixtures/torch/*.json.

Everything is float64. The Rust tests (tests/tests/torch_fixtures.rs) read the committed JSON;
no Python is needed at test time. Regenerate with

    bash scripts/prerequisites.sh fixtures     (pinned torch: .venv-fixtures)
    .venv-fixtures/bin/python scripts/torch_fixtures.py

Fixtures:
  kl.json     KL values and gradients from torch.distributions.kl_divergence (autograd):
              diagonal vs N(0, I), diagonal vs diagonal, full vs full (scale_tril).
  mlp.json    one small network's loss, parameter gradients and input gradient (autograd),
              for each loss: MSE, BCE with logits, Gaussian NLL (unit and learned variance).
  optim.json  parameter trajectories of torch.optim.SGD / Adam / RMSprop on given gradients.
  mlp_core.json  the runtime-sized core (issue 16) at shapes no fixed-size type has: a VAE with a
              30 → 64 → 32 → (4 + 4) encoder and a 4 → 32 → 64 → 30 decoder (Bernoulli and
              learned-variance Gaussian likelihoods: batch ELBO terms and the gradient of −ELBO),
              and a WGAN-GP with generator 3 → 16 → 7 and two-hidden-layer critic 7 → 24 → 12 → 1
              (critic loss with the penalty, generator loss, both gradients). Parameters and
              gradients are flat in the core's layout: per layer W (out × in, row-major), then b.
"""

import json
import pathlib

import torch
import torch.nn.functional as F
from torch.distributions import Independent, MultivariateNormal, Normal, kl_divergence

torch.set_default_dtype(torch.float64)
OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch"
GEN = torch.Generator().manual_seed(20261126)


def randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=GEN) * scale).clone()


def tolist(t):
    return t.detach().tolist()


def leaf(t):
    return t.detach().clone().requires_grad_(True)


def diag_normal(mu, log_var):
    return Independent(Normal(mu, torch.exp(0.5 * log_var)), 1)


def random_tril(d):
    """Lower-triangular factor with a positive diagonal in [0.3, 2]."""
    l = torch.tril(randn(d, d, scale=0.6), -1)
    return l + torch.diag(0.3 + 1.7 * torch.rand(d, generator=GEN))


def kl_fixtures():
    d = 4
    std, diag, full = [], [], []
    for _ in range(6):
        mu, lv = leaf(randn(d)), leaf(randn(d, scale=1.5))
        kl = kl_divergence(diag_normal(mu, lv), diag_normal(torch.zeros(d), torch.zeros(d)))
        kl.backward()
        std.append(dict(mu=tolist(mu), log_var=tolist(lv), kl=kl.item(),
                        grad_mu=tolist(mu.grad), grad_log_var=tolist(lv.grad)))
    for _ in range(6):
        p = [leaf(randn(d)), leaf(randn(d)), leaf(randn(d)), leaf(randn(d))]
        kl = kl_divergence(diag_normal(p[0], p[1]), diag_normal(p[2], p[3]))
        kl.backward()
        diag.append(dict(mu1=tolist(p[0]), log_var1=tolist(p[1]), mu2=tolist(p[2]),
                         log_var2=tolist(p[3]), kl=kl.item(),
                         grad_mu1=tolist(p[0].grad), grad_log_var1=tolist(p[1].grad),
                         grad_mu2=tolist(p[2].grad), grad_log_var2=tolist(p[3].grad)))
    d = 3
    for _ in range(6):
        mu1, l1, mu2, l2 = leaf(randn(d)), leaf(random_tril(d)), leaf(randn(d)), leaf(random_tril(d))
        kl = kl_divergence(MultivariateNormal(mu1, scale_tril=l1),
                           MultivariateNormal(mu2, scale_tril=l2))
        kl.backward()
        full.append(dict(mu1=tolist(mu1), l1=tolist(l1), mu2=tolist(mu2), l2=tolist(l2),
                         kl=kl.item(), grad_mu1=tolist(mu1.grad), grad_l1=tolist(torch.tril(l1.grad)),
                         grad_mu2=tolist(mu2.grad), grad_l2=tolist(torch.tril(l2.grad))))
    return dict(source=f"torch {torch.__version__} kl_divergence, float64",
                diag_std_normal=std, diag=diag, full=full)


# The network of tests/tests/torch_fixtures.rs: 3 → 6 tanh → 5 leaky(0.2) → 5 softplus → 4 relu
# → 4 sigmoid → 4 (identity).
SIZES = [3, 6, 5, 5, 4, 4, 4]
ACTS = [torch.tanh, lambda x: F.leaky_relu(x, 0.2), F.softplus, F.relu, torch.sigmoid, None]


def mlp_fixtures():
    layers = [(leaf(randn(o, i, scale=0.7)), leaf(randn(o, scale=0.3)))
              for i, o in zip(SIZES[:-1], SIZES[1:])]

    def forward(x):
        h = x
        for (w, b), act in zip(layers, ACTS):
            h = w @ h + b
            if act is F.softplus:
                # PyTorch's softplus switches to the identity above 20; the kernel does not.
                assert float(h.detach().max()) < 20
            if act is not None:
                h = act(h)
        return h

    losses = {
        "mse": lambda y, t: F.mse_loss(y, t),
        "bce_with_logits": lambda y, t: F.binary_cross_entropy_with_logits(y, t),
        "gaussian_nll_unit": lambda y, t: -Normal(y, 1.0).log_prob(t).sum(),
        "gaussian_nll": lambda y, t: -Normal(y[:2], torch.exp(0.5 * y[2:])).log_prob(t[:2]).sum(),
    }
    cases = []
    for name, loss_fn in losses.items():
        for _ in range(2):
            x = leaf(randn(3))
            if name == "bce_with_logits":
                target = torch.rand(4, generator=GEN)
            else:
                target = randn(4)
            for w, b in layers:
                w.grad, b.grad = None, None
            y = forward(x)
            loss = loss_fn(y, target)
            loss.backward()
            cases.append(dict(loss_name=name, x=tolist(x), target=tolist(target),
                              output=tolist(y), loss=loss.item(), grad_x=tolist(x.grad),
                              grad_w=[tolist(w.grad) for w, _ in layers],
                              grad_b=[tolist(b.grad) for _, b in layers]))
    return dict(source=f"torch {torch.__version__} autograd, float64",
                sizes=SIZES, activations=["tanh", "leaky_relu(0.2)", "softplus", "relu",
                                          "sigmoid", "identity"],
                weights=[tolist(w) for w, _ in layers], biases=[tolist(b) for _, b in layers],
                cases=cases)


def optim_fixtures():
    w0, b0 = randn(2, 3), randn(2)
    grads = [(randn(2, 3), randn(2)) for _ in range(5)]
    configs = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.01),
        "adam": lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.999), eps=1e-8,
                                           weight_decay=0.01),
        # WGAN-GP's algorithm: lr 1e-4, beta1 = 0, beta2 = 0.9.
        "adam_wgan_gp": lambda p: torch.optim.Adam(p, lr=1e-4, betas=(0.0, 0.9)),
        "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8,
                                                 weight_decay=0.01),
    }
    out = {}
    for name, make in configs.items():
        w, b = w0.clone().requires_grad_(True), b0.clone().requires_grad_(True)
        opt = make([w, b])
        traj = []
        for gw, gb in grads:
            w.grad, b.grad = gw.clone(), gb.clone()
            opt.step()
            traj.append(dict(w=tolist(w), b=tolist(b)))
        out[name] = traj
    return dict(source=f"torch {torch.__version__} torch.optim, float64", w0=tolist(w0),
                b0=tolist(b0), grads=[dict(w=tolist(gw), b=tolist(gb)) for gw, gb in grads],
                trajectories=out)


# The runtime-sized core's fixtures use their own generator, so the files above do not move.
GEN_CORE = torch.Generator().manual_seed(20261202)


def core_randn(*shape, scale=1.0):
    return (torch.randn(*shape, generator=GEN_CORE) * scale).clone()


def core_layers(sizes, scale=0.35):
    return [(leaf(core_randn(o, i, scale=scale)), leaf(core_randn(o, scale=0.2)))
            for i, o in zip(sizes[:-1], sizes[1:])]


def mlp(layers, acts, h):
    for (w, b), act in zip(layers, acts):
        h = h @ w.T + b
        if act is not None:
            h = act(h)
    return h


def flat(tensors):
    return [v for t in tensors for v in t.detach().reshape(-1).tolist()]


def flat_grads(tensors):
    return [v for t in tensors for v in t.grad.reshape(-1).tolist()]


def vae_core_case(likelihood):
    rows, x_dim, z_dim = 3, 30, 4
    enc = core_layers([30, 64, 32])
    head_mu, head_lv = core_layers([32, z_dim])[0], core_layers([32, z_dim])[0]
    dec = core_layers([z_dim, 32, 64, 30])
    log_var_x = leaf(core_randn(x_dim, scale=0.3))
    x = torch.rand(rows, x_dim, generator=GEN_CORE)
    eps = core_randn(rows, z_dim)
    h = mlp(enc, [F.relu, torch.tanh], x)
    mu = h @ head_mu[0].T + head_mu[1]
    lv = h @ head_lv[0].T + head_lv[1]
    z = mu + torch.exp(0.5 * lv) * eps
    out = mlp(dec, [F.relu, torch.tanh, None], z)
    if likelihood == "bernoulli_logits":
        ll = -F.binary_cross_entropy_with_logits(out, x, reduction="none").sum(1)
    else:
        ll = Normal(out, torch.exp(0.5 * log_var_x)).log_prob(x).sum(1)
    kl = kl_divergence(diag_normal(mu, lv), diag_normal(torch.zeros_like(mu), torch.zeros_like(lv)))
    loss = -(ll - kl).mean()
    loss.backward()
    params = [t for wb in enc for t in wb] + list(head_mu) + list(head_lv) + [t for wb in dec for t in wb]
    if likelihood == "gaussian_learned":
        params.append(log_var_x)
    return dict(likelihood=likelihood, rows=rows, x=flat([x]), eps=flat([eps]), params=flat(params),
                log_likelihood=ll.mean().item(), kl=kl.mean().item(), grads=flat_grads(params))


def wgan_core_case(lam=10.0):
    rows, z_dim = 4, 3
    gen = core_layers([z_dim, 16, 7], scale=0.5)
    critic = core_layers([7, 24, 12, 1], scale=0.4)
    lrelu = lambda v: F.leaky_relu(v, 0.2)
    critic_acts = [lrelu, lrelu, None]
    real = core_randn(rows, 7)
    z = core_randn(rows, z_dim)
    t = torch.rand(rows, generator=GEN_CORE)
    fake = mlp(gen, [F.relu, None], z).detach()
    x_hat = (t[:, None] * real + (1 - t[:, None]) * fake).requires_grad_(True)
    d_hat = mlp(critic, critic_acts, x_hat)
    (g,) = torch.autograd.grad(d_hat.sum(), x_hat, create_graph=True)
    norms = g.norm(dim=1)
    penalty = lam * ((norms - 1) ** 2)
    d_real = mlp(critic, critic_acts, real)
    d_fake = mlp(critic, critic_acts, fake)
    critic_loss = d_fake.mean() - d_real.mean() + penalty.mean()
    critic_loss.backward()
    critic_params = [tt for wb in critic for tt in wb]
    critic_grads = flat_grads(critic_params)
    for p in critic_params:
        p.grad = None
    gen_loss = -mlp(critic, critic_acts, mlp(gen, [F.relu, None], z)).mean()
    gen_loss.backward()
    gen_params = [tt for wb in gen for tt in wb]
    return dict(rows=rows, lambda_=lam, real=flat([real]), z=flat([z]), t=t.tolist(),
                generator_params=flat(gen_params), critic_params=flat(critic_params),
                d_real=d_real.mean().item(), d_fake=d_fake.mean().item(), penalty=penalty.mean().item(),
                grad_norm=norms.mean().item(), critic_grads=critic_grads,
                generator_loss=gen_loss.item(), generator_grads=flat_grads(gen_params))


def mlp_core_fixtures():
    return dict(source=f"torch {torch.__version__} autograd, float64",
                vae=dict(encoder=[[30, 64, "relu"], [64, 32, "tanh"]], latent=4,
                         decoder=[[4, 32, "relu"], [32, 64, "tanh"], [64, 30, "identity"]],
                         cases=[vae_core_case("bernoulli_logits"), vae_core_case("gaussian_learned")]),
                wgan=dict(generator=[[3, 16, "relu"], [16, 7, "identity"]],
                          critic=[[7, 24, "leaky_relu(0.2)"], [24, 12, "leaky_relu(0.2)"], [12, 1, "identity"]],
                          cases=[wgan_core_case()]))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in [("kl", kl_fixtures()), ("mlp", mlp_fixtures()), ("optim", optim_fixtures()),
                       ("mlp_core", mlp_core_fixtures())]:
        path = OUT / f"{name}.json"
        # repr-exact floats: json writes the shortest round-tripping decimal of each double.
        path.write_text(json.dumps(data, indent=1) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
