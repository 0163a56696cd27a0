//! Gaussian building blocks: standard-normal variates, KL divergences (eq 14–15) and
//! reparameterized sampling (eq 18).

pub mod kl;
pub mod normal;
pub mod reparam;

pub use kl::{
    DiagKlGrad, FullKlGrad, kl_diag, kl_diag_grad, kl_diag_std_normal, kl_diag_std_normal_grad,
    kl_diag_std_normal_grad_slice, kl_diag_std_normal_slice, kl_full, kl_full_cov, kl_full_grad,
};
pub use normal::{MAX_REJECTED_DRAWS, fill_standard_normal, standard_normal, try_standard_normal};
pub use reparam::{
    reparam_diag, reparam_diag_backward, reparam_diag_backward_slice, reparam_diag_slice, reparam_full,
    reparam_full_backward, sample_diag, sample_full,
};
