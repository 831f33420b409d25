//! ext2/3/4: reads through ext4-view, edits through the system libext2fs (a small C shim).
