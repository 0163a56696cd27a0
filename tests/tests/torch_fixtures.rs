//! The VAE/WGAN kernels against PyTorch (float64) on committed fixtures.
//!
//! `scripts/torch_fixtures.py` wrote `tests/fixtures/torch/*.json` with `torch.distributions.
//! kl_divergence`, autograd through a whole network and `torch.optim`; no Python runs here.
//! Tolerance 1e-9 absolute + relative (the bound); every value also agrees to 1e-14.
//! `mlp_core.json` checks the runtime-sized core (kernels `mlp::batch`, `models::{vae_net,
//! wgan_net}`) at shapes no fixed-size type has (those values agree to 2e-14).

use crabmix_kernels::gaussian::{
    DiagKlGrad, FullKlGrad, kl_diag, kl_diag_grad, kl_diag_std_normal_grad, kl_full, kl_full_grad,
};
use crabmix_kernels::mlp::loss::{bce_with_logits, gaussian_nll, gaussian_nll_unit, mse};
use crabmix_kernels::mlp::optim::{Adam, RmsProp, Sgd};
use crabmix_kernels::mlp::{
    Act, Chain, Dense, Layer, LeakyRelu, Relu, Sigmoid, Softplus, Tanh, check_finite,
};
use crabmix_kernels::mlp::{ActivationKind, Architecture, LayerSpec, batch};
use crabmix_kernels::models::vae_net::{self, VaeLikelihood, VaeShape};
use crabmix_kernels::models::wgan::Lipschitz;
use crabmix_kernels::models::wgan_net::{self, WganShape};
use crabmix_kernels::{chain, chain_type};
use serde_json::Value;

const TOL: f64 = 1e-9;

fn load(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is valid JSON")
}

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= TOL * (1.0 + want.abs()),
        "{what}: kernel {got} vs torch {want} (diff {:e})",
        (got - want).abs()
    );
}

fn vec_of<const N: usize>(v: &Value) -> [f64; N] {
    let a = v.as_array().expect("array");
    assert_eq!(a.len(), N, "fixture vector length");
    core::array::from_fn(|i| a[i].as_f64().expect("number"))
}

fn mat_of<const R: usize, const C: usize>(v: &Value) -> [[f64; C]; R] {
    let a = v.as_array().expect("array of rows");
    assert_eq!(a.len(), R, "fixture row count");
    core::array::from_fn(|i| vec_of::<C>(&a[i]))
}

fn close_all(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        close(*g, *w, &format!("{what}[{i}]"));
    }
}

#[test]
fn kl_diag_std_normal_matches_torch() {
    let fx = load(include_str!("../fixtures/torch/kl.json"));
    let cases = fx["diag_std_normal"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        let (mu, lv) = (vec_of::<4>(&c["mu"]), vec_of::<4>(&c["log_var"]));
        let (mut gm, mut gl) = ([0.0; 4], [0.0; 4]);
        let kl = kl_diag_std_normal_grad(&mu, &lv, &mut gm, &mut gl);
        close(kl, c["kl"].as_f64().unwrap(), "kl");
        close_all(&gm, &vec_of::<4>(&c["grad_mu"]), "grad_mu");
        close_all(&gl, &vec_of::<4>(&c["grad_log_var"]), "grad_log_var");
    }
}

#[test]
fn kl_diag_matches_torch() {
    let fx = load(include_str!("../fixtures/torch/kl.json"));
    for c in fx["diag"].as_array().unwrap() {
        let p = ["mu1", "log_var1", "mu2", "log_var2"].map(|k| vec_of::<4>(&c[k]));
        let mut g = DiagKlGrad::zeros();
        let kl = kl_diag_grad(&p[0], &p[1], &p[2], &p[3], &mut g);
        close(kl, c["kl"].as_f64().unwrap(), "kl");
        close(kl_diag(&p[0], &p[1], &p[2], &p[3]), kl, "kl without gradient");
        close_all(&g.mu1, &vec_of::<4>(&c["grad_mu1"]), "grad_mu1");
        close_all(&g.log_var1, &vec_of::<4>(&c["grad_log_var1"]), "grad_log_var1");
        close_all(&g.mu2, &vec_of::<4>(&c["grad_mu2"]), "grad_mu2");
        close_all(&g.log_var2, &vec_of::<4>(&c["grad_log_var2"]), "grad_log_var2");
    }
}

#[test]
fn kl_full_matches_torch() {
    let fx = load(include_str!("../fixtures/torch/kl.json"));
    for c in fx["full"].as_array().unwrap() {
        let (mu1, mu2) = (vec_of::<3>(&c["mu1"]), vec_of::<3>(&c["mu2"]));
        let (l1, l2) = (mat_of::<3, 3>(&c["l1"]), mat_of::<3, 3>(&c["l2"]));
        let mut g = FullKlGrad::zeros();
        let kl = kl_full_grad(&mu1, &l1, &mu2, &l2, &mut g).unwrap();
        close(kl, c["kl"].as_f64().unwrap(), "kl");
        close(kl_full(&mu1, &l1, &mu2, &l2).unwrap(), kl, "kl without gradient");
        close_all(&g.mu1, &vec_of::<3>(&c["grad_mu1"]), "grad_mu1");
        close_all(&g.mu2, &vec_of::<3>(&c["grad_mu2"]), "grad_mu2");
        let (w1, w2) = (mat_of::<3, 3>(&c["grad_l1"]), mat_of::<3, 3>(&c["grad_l2"]));
        close_all(g.l1.as_flattened(), w1.as_flattened(), "grad_l1");
        close_all(g.l2.as_flattened(), w2.as_flattened(), "grad_l2");
    }
}

type Net = chain_type!(
    Dense<f64, 3, 6>,
    Act<Tanh, 6>,
    Dense<f64, 6, 5>,
    Act<LeakyRelu<f64>, 5>,
    Dense<f64, 5, 5>,
    Act<Softplus, 5>,
    Dense<f64, 5, 4>,
    Act<Relu, 4>,
    Dense<f64, 4, 4>,
    Act<Sigmoid, 4>,
    Dense<f64, 4, 4>,
);

/// The fixture's dense layers, in order, as mutable references into a network value.
fn dense_layers(n: &mut Net) -> [&mut dyn DenseView; 6] {
    let Chain(d0, Chain(_, rest)) = n;
    let Chain(d1, Chain(_, rest)) = rest;
    let Chain(d2, Chain(_, rest)) = rest;
    let Chain(d3, Chain(_, rest)) = rest;
    let Chain(d4, Chain(_, d5)) = rest;
    [d0, d1, d2, d3, d4, d5]
}

/// Shape-erased access to one dense layer's weights and biases, for loading and comparing.
trait DenseView {
    fn load(&mut self, w: &Value, b: &Value);
    fn flat(&self) -> (Vec<f64>, Vec<f64>);
}

impl<const I: usize, const O: usize> DenseView for Dense<f64, I, O> {
    fn load(&mut self, w: &Value, b: &Value) {
        self.w = mat_of::<O, I>(w);
        self.b = vec_of::<O>(b);
    }
    fn flat(&self) -> (Vec<f64>, Vec<f64>) {
        (self.w.as_flattened().to_vec(), self.b.to_vec())
    }
}

fn fixture_net(fx: &Value) -> Net {
    let mut net: Net = chain!(
        Dense::zeros(),
        Act(Tanh),
        Dense::zeros(),
        Act(LeakyRelu { slope: 0.2 }),
        Dense::zeros(),
        Act(Softplus),
        Dense::zeros(),
        Act(Relu),
        Dense::zeros(),
        Act(Sigmoid),
        Dense::zeros(),
    );
    for (k, layer) in dense_layers(&mut net).into_iter().enumerate() {
        layer.load(&fx["weights"][k], &fx["biases"][k]);
    }
    net
}

#[test]
fn whole_network_gradients_match_torch_autograd() {
    let fx = load(include_str!("../fixtures/torch/mlp.json"));
    let net = fixture_net(&fx);
    let cases = fx["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8, "two cases per loss");
    let mut cache = Net::new_cache();
    for c in cases {
        let name = c["loss_name"].as_str().unwrap();
        let x = vec_of::<3>(&c["x"]);
        let t = vec_of::<4>(&c["target"]);
        let y = net.forward(&x, &mut cache);
        close_all(&y, &vec_of::<4>(&c["output"]), &format!("{name}: output"));
        let mut gy = [0.0; 4];
        let loss = match name {
            "mse" => mse(&y, &t, &mut gy),
            "bce_with_logits" => bce_with_logits(&y, &t, &mut gy),
            "gaussian_nll_unit" => gaussian_nll_unit(&y, &t, &mut gy),
            "gaussian_nll" => {
                let (mut gm, mut gl) = ([0.0; 2], [0.0; 2]);
                let mean = [y[0], y[1]];
                let log_var = [y[2], y[3]];
                let l = gaussian_nll(&mean, &log_var, &[t[0], t[1]], &mut gm, &mut gl);
                gy = [gm[0], gm[1], gl[0], gl[1]];
                l
            }
            other => panic!("unknown loss {other}"),
        };
        close(loss, c["loss"].as_f64().unwrap(), &format!("{name}: loss"));
        let mut grads = net.zeros_like();
        let gx = net.backward(&cache, &gy, &mut grads);
        close_all(&gx, &vec_of::<3>(&c["grad_x"]), &format!("{name}: grad_x"));
        for (k, layer) in dense_layers(&mut grads).into_iter().enumerate() {
            let (w, b) = layer.flat();
            let want_w: Vec<f64> = c["grad_w"][k]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()))
                .collect();
            let want_b: Vec<f64> =
                c["grad_b"][k].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            close_all(&w, &want_w, &format!("{name}: layer {k} grad_w"));
            close_all(&b, &want_b, &format!("{name}: layer {k} grad_b"));
        }
    }
}

#[test]
fn optimizer_trajectories_match_torch_optim() {
    let fx = load(include_str!("../fixtures/torch/optim.json"));
    let start = Dense::<f64, 3, 2> { w: mat_of::<2, 3>(&fx["w0"]), b: vec_of::<2>(&fx["b0"]) };
    let grads: Vec<Dense<f64, 3, 2>> = fx["grads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| Dense { w: mat_of::<2, 3>(&g["w"]), b: vec_of::<2>(&g["b"]) })
        .collect();
    let check = |name: &str, step: &mut dyn FnMut(&mut Dense<f64, 3, 2>, &Dense<f64, 3, 2>)| {
        let traj = fx["trajectories"][name].as_array().unwrap();
        assert_eq!(traj.len(), grads.len());
        let mut net = start;
        for (t, (g, want)) in grads.iter().zip(traj).enumerate() {
            step(&mut net, g);
            let w = mat_of::<2, 3>(&want["w"]);
            close_all(net.w.as_flattened(), w.as_flattened(), &format!("{name} step {t} w"));
            close_all(&net.b, &vec_of::<2>(&want["b"]), &format!("{name} step {t} b"));
        }
        check_finite(&net).unwrap();
    };

    let mut sgd = Sgd::new(&start, 0.1);
    sgd.momentum = 0.9;
    sgd.weight_decay = 0.01;
    check("sgd", &mut |n, g| sgd.step(n, g));

    let mut adam = Adam::new(&start, 0.01);
    adam.weight_decay = 0.01;
    check("adam", &mut |n, g| adam.step(n, g));

    let mut wgan_gp = Adam::new(&start, 1e-4);
    wgan_gp.beta1 = 0.0;
    wgan_gp.beta2 = 0.9;
    check("adam_wgan_gp", &mut |n, g| wgan_gp.step(n, g));

    let mut rms = RmsProp::new(&start, 0.01);
    rms.weight_decay = 0.01;
    check("rmsprop", &mut |n, g| rms.step(n, g));
}

// --- The runtime-sized core at new shapes (mlp_core.json, issue 16) ------------------------------

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

fn layer_specs(v: &Value) -> Vec<LayerSpec<f64>> {
    let act = |name: &str| match name {
        "relu" => ActivationKind::Relu,
        "tanh" => ActivationKind::Tanh,
        "identity" => ActivationKind::Identity,
        "leaky_relu(0.2)" => ActivationKind::LeakyRelu { slope: 0.2 },
        other => panic!("fixture activation {other}"),
    };
    let as_usize = |v: &Value| v.as_u64().expect("width") as usize;
    v.as_array()
        .expect("layers")
        .iter()
        .map(|l| LayerSpec::new(as_usize(&l[0]), as_usize(&l[1]), act(l[2].as_str().expect("name"))))
        .collect()
}

#[test]
fn core_vae_30_64_32_4_matches_torch() {
    let fx = load(include_str!("../fixtures/torch/mlp_core.json"));
    let v = &fx["vae"];
    let (enc, dec) = (layer_specs(&v["encoder"]), layer_specs(&v["decoder"]));
    let latent = v["latent"].as_u64().unwrap() as usize;
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for c in cases {
        let lik = match c["likelihood"].as_str().unwrap() {
            "bernoulli_logits" => VaeLikelihood::BernoulliLogits,
            "gaussian_learned" => VaeLikelihood::GaussianLearned,
            other => panic!("fixture likelihood {other}"),
        };
        let shape =
            VaeShape::new(Architecture::new(&enc).unwrap(), latent, Architecture::new(&dec).unwrap(), lik)
                .unwrap();
        let rows = c["rows"].as_u64().unwrap() as usize;
        let (x, eps, params) = (floats(&c["x"]), floats(&c["eps"]), floats(&c["params"]));
        assert_eq!(params.len(), shape.params_len(), "fixture layout = core layout");
        let mut wt = vec![0.0; shape.weights_len()];
        shape.transpose_weights(&params, &mut wt).unwrap();
        let mut work = vec![0.0; shape.work_len(rows).unwrap()];
        let mut grads = vec![0.0; shape.params_len()];
        let w = 1.0 / rows as f64;
        let t = vae_net::accumulate(&shape, &params, &wt, &x, &eps, rows, w, &mut work, &mut grads).unwrap();
        let what = c["likelihood"].as_str().unwrap();
        close(t.log_likelihood * w, c["log_likelihood"].as_f64().unwrap(), what);
        close(t.kl * w, c["kl"].as_f64().unwrap(), what);
        close_all(&grads, &floats(&c["grads"]), &format!("{what} gradient"));
    }
}

#[test]
fn core_wgan_gp_with_two_hidden_layer_critic_matches_torch() {
    let fx = load(include_str!("../fixtures/torch/mlp_core.json"));
    let v = &fx["wgan"];
    let (gs, cs) = (layer_specs(&v["generator"]), layer_specs(&v["critic"]));
    let c = &v["cases"][0];
    let lambda = c["lambda_"].as_f64().unwrap();
    let lip = Lipschitz::GradientPenalty { lambda };
    let (ga, ca) = (Architecture::new(&gs).unwrap(), Architecture::new(&cs).unwrap());
    let shape = WganShape::new(ga, ca, lip).unwrap();
    let rows = c["rows"].as_u64().unwrap() as usize;
    let (gp, cp) = (floats(&c["generator_params"]), floats(&c["critic_params"]));
    let (mut gwt, mut cwt) = (vec![0.0; ga.weights_len()], vec![0.0; ca.weights_len()]);
    batch::transpose_weights(&ga, &gp, &mut gwt).unwrap();
    batch::transpose_weights(&ca, &cp, &mut cwt).unwrap();
    let (real, z, t) = (floats(&c["real"]), floats(&c["z"]), floats(&c["t"]));
    let mut work = vec![0.0; shape.work_len(rows).unwrap()];
    let mut grads = vec![0.0; ca.params_len()];
    let w = 1.0 / rows as f64;
    let s = wgan_net::critic_accumulate(
        &shape,
        (&gp, &gwt),
        (&cp, &cwt),
        &real,
        &z,
        Some(&t),
        lip,
        w,
        &mut work,
        &mut grads,
    )
    .unwrap();
    close(s.d_real * w, c["d_real"].as_f64().unwrap(), "d_real");
    close(s.d_fake * w, c["d_fake"].as_f64().unwrap(), "d_fake");
    close(s.penalty * w, c["penalty"].as_f64().unwrap(), "penalty");
    close(s.grad_norm * w, c["grad_norm"].as_f64().unwrap(), "grad_norm");
    close_all(&grads, &floats(&c["critic_grads"]), "critic gradient");
    let mut ggrads = vec![0.0; ga.params_len()];
    let loss =
        wgan_net::generator_accumulate(&shape, (&gp, &gwt), (&cp, &cwt), &z, w, &mut work, &mut ggrads)
            .unwrap();
    close(loss * w, c["generator_loss"].as_f64().unwrap(), "generator loss");
    close_all(&ggrads, &floats(&c["generator_grads"]), "generator gradient");
}
