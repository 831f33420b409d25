//! Filesystem detection by superblock magic.
