//! Builds the libext2fs shim (src/fs/ext4/shim.c) and links the system libext2fs and com_err
//! (Debian: libext2fs-dev).

fn main() {
    println!("cargo:rerun-if-changed=src/fs/ext4/shim.c");
    cc::Build::new()
        .file("src/fs/ext4/shim.c")
        .warnings(true)
        .extra_warnings(true)
        .flag_if_supported("-Wno-unused-parameter")
        .compile("cloudseal_ext2shim");
    println!("cargo:rustc-link-lib=ext2fs");
    println!("cargo:rustc-link-lib=com_err");
}
