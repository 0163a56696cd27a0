//! f64 reference implementations used as oracles by the cross-crate tests.
