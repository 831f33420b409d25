//! Sparsify: turn free filesystem blocks and unpartitioned space into holes.
