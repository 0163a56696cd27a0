//! crabmix on the host.
