//! qcow2 v3 on-disk constants, the header, and the size of the refcount structures (they
//! count themselves, so their size is a fixed point).

/// "QFI\xfb"
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
/// L1/L2 entry flag: refcount is exactly one.
pub const COPIED: u64 = 1 << 63;
/// L2 entry flag: compressed cluster.
pub const COMPRESSED: u64 = 1 << 62;
/// Incompatible feature bit 3: the compression type field is not zlib.
pub const INCOMPAT_COMPRESSION: u64 = 1 << 3;
/// Header length including the compression type byte, padded to 8 (as qemu writes it).
pub const HEADER_LEN: usize = 112;
/// refcount_order 4: 16-bit refcounts.
pub const REFCOUNT_ORDER: u32 = 4;
/// qemu refuses L1 tables larger than 32 MiB.
pub const MAX_L1_BYTES: u64 = 32 << 20;

pub struct Header {
    pub cluster_bits: u32,
    pub size: u64,
    pub l1_size: u32,
    pub l1_offset: u64,
    pub refcount_table_offset: u64,
    pub refcount_table_clusters: u32,
    /// 0 zlib, 1 zstd.
    pub compression_type: u8,
}

impl Header {
    /// The header and an empty extension list (8 zero bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut h = vec![0u8; HEADER_LEN + 8];
        h[0..4].copy_from_slice(&MAGIC);
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        // 8..20 backing file offset and size: none
        h[20..24].copy_from_slice(&self.cluster_bits.to_be_bytes());
        h[24..32].copy_from_slice(&self.size.to_be_bytes());
        // 32..36 crypt_method 0
        h[36..40].copy_from_slice(&self.l1_size.to_be_bytes());
        h[40..48].copy_from_slice(&self.l1_offset.to_be_bytes());
        h[48..56].copy_from_slice(&self.refcount_table_offset.to_be_bytes());
        h[56..60].copy_from_slice(&self.refcount_table_clusters.to_be_bytes());
        // 60..64 nb_snapshots 0, 64..72 snapshots_offset 0
        let incompat = if self.compression_type != 0 {
            INCOMPAT_COMPRESSION
        } else {
            0
        };
        h[72..80].copy_from_slice(&incompat.to_be_bytes());
        // 80..88 compatible, 88..96 autoclear: 0
        h[96..100].copy_from_slice(&REFCOUNT_ORDER.to_be_bytes());
        h[100..104].copy_from_slice(&(HEADER_LEN as u32).to_be_bytes());
        h[104] = self.compression_type;
        h
    }
}

/// Number of refcount block and refcount table clusters needed when `base` other clusters
/// exist: the smallest (blocks, table) that also covers itself.
pub fn refcount_clusters(base: u64, cluster_size: u64) -> (u64, u64) {
    let per_block = cluster_size / 2; // 16-bit entries
    let per_table_cluster = cluster_size / 8;
    let (mut rb, mut rt) = (0u64, 0u64);
    loop {
        let n = base + rb + rt;
        let nrb = n.div_ceil(per_block);
        let nrt = nrb.div_ceil(per_table_cluster);
        if (nrb, nrt) == (rb, rt) {
            return (rb, rt);
        }
        (rb, rt) = (nrb, nrt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refcount_fixed_point_covers_itself() {
        for cs in [512u64, 4096, 65536, 2 << 20] {
            for base in [1u64, 2, 255, 256, 257, 32767, 32768, 1 << 20, 123_456_789] {
                let (rb, rt) = refcount_clusters(base, cs);
                let n = base + rb + rt;
                assert!(rb * (cs / 2) >= n, "cs {cs} base {base}");
                assert!(rt * (cs / 8) >= rb);
                // minimal: one block fewer would not do
                assert!((rb - 1) * (cs / 2) < n);
            }
        }
    }

    #[test]
    fn header_fields_land_where_qemu_reads_them() {
        let h = Header {
            cluster_bits: 16,
            size: 1 << 30,
            l1_size: 2,
            l1_offset: 0x30000,
            refcount_table_offset: 0x40000,
            refcount_table_clusters: 1,
            compression_type: 1,
        }
        .to_bytes();
        assert_eq!(&h[0..4], b"QFI\xfb");
        assert_eq!(u32::from_be_bytes(h[20..24].try_into().unwrap()), 16);
        assert_eq!(u64::from_be_bytes(h[72..80].try_into().unwrap()), 8);
        assert_eq!(u32::from_be_bytes(h[100..104].try_into().unwrap()), 112);
        assert_eq!(h[104], 1);
        assert_eq!(h.len(), 120);
    }
}
