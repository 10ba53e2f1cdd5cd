fn main() {
    genret_build::link_libtorch(std::env::var_os("CARGO_FEATURE_CUDA").is_some());
}
