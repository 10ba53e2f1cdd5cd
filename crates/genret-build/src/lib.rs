//! Build-script helper shared by every genret package that produces executables linked to
//! libtorch (the CLI, tests, benchmarks).
//!
//! tch's `torch-sys` finds libtorch (from `LIBTORCH`, a Python environment with
//! `LIBTORCH_USE_PYTORCH=1`, or its `download-libtorch` feature) and passes the library folder
//! to direct dependents as `DEP_TCH_LIBTORCH_LIB`. Cargo applies link arguments only to the
//! package whose build script printed them, so each such package calls [`link_libtorch`] from
//! its own `build.rs`.

/// Adds an rpath to libtorch so binaries run without `LD_LIBRARY_PATH`, and, when `cuda` is
/// true, keeps `libtorch_cuda` linked even though no symbol of it is referenced directly
/// (otherwise `--as-needed` drops it and `tch::Cuda::is_available()` is always false).
pub fn link_libtorch(cuda: bool) {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        if cuda {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
            println!("cargo:rustc-link-arg=-L{lib}");
            println!("cargo:rustc-link-arg=-ltorch_cuda");
            println!("cargo:rustc-link-arg=-ltorch");
            println!("cargo:rustc-link-arg=-Wl,--as-needed");
        }
    }
}
