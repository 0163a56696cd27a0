//! The criterion benches of crabmix (`benches/*.rs`: `cargo bench -p crabmix-criterion`); the
//! helpers they share (workloads, seeded generators) live in `crabmix-bench`. This library is
//! empty: the package exists so that criterion is built only for the benches.
