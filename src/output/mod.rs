//! Output writers: sparse raw and streaming qcow2, with hashes computed while writing.
