//! Build script: with the `cuda-shim` feature, compiles host/cuda/*.cu for the host CPU through
//! the shim header (host/cuda/shim), so tests run the CUDA kernels' logic without a GPU. Without
//! it (the default) it does nothing, keeping plain builds fast and free of a C++ compiler.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    #[cfg(feature = "cuda-shim")]
    shim::build();
}

#[cfg(feature = "cuda-shim")]
mod shim {
    pub fn build() {
        for entry in std::fs::read_dir("cuda").into_iter().chain(std::fs::read_dir("cuda/shim")).flatten() {
            let path = entry.expect("listing host/cuda").path();
            println!("cargo:rerun-if-changed={}", path.display());
        }
        cc::Build::new()
            .cpp(true)
            .std("c++20")
            // Optimized even in debug builds: the shim runs every thread of every block in turn.
            .opt_level(2)
            .flag("-pthread")
            // The kernels are written for NVRTC; host-only warnings about them are noise here.
            .flag_if_supported("-Wno-unused-parameter")
            .flag_if_supported("-Wno-unknown-pragmas")
            .file("cuda/shim/shim.cpp")
            .compile("crabmix_cuda_shim");
        println!("cargo:rustc-link-lib=pthread");
    }
}
