//! L1/L2 table entries: what one guest cluster maps to.

/// Host offset bits of an L1 entry and of a standard L2 entry (bits 9-55).
pub const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
pub const OFLAG_COMPRESSED: u64 = 1 << 62;
/// v3 "reads as zeros" bit; qemu honours it in v2 images too, and so do we.
pub const OFLAG_ZERO: u64 = 1;

/// Where one guest cluster's bytes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cluster {
    /// Not allocated: zeros, or the backing file.
    Unallocated,
    /// Reads as zeros (zero flag), whatever the offset says.
    Zero,
    /// Stored as is at this host offset (cluster aligned).
    Data(u64),
    /// Compressed bytes at `off`, at most `len` of them (the last sector may be partial).
    Compressed { off: u64, len: u64 },
}

/// Geometry derived from cluster_bits, shared by the table code.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    pub cluster_bits: u32,
}

impl Geometry {
    pub fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }
    /// log2 of the number of entries in one L2 table.
    pub fn l2_bits(&self) -> u32 {
        self.cluster_bits - 3
    }
    pub fn l2_entries(&self) -> u64 {
        1 << self.l2_bits()
    }

    /// Decode a standard (non-extended) L2 entry; `Err` carries the reason, the caller
    /// adds where it was found.
    pub fn decode(&self, entry: u64) -> Result<Cluster, String> {
        if entry & OFLAG_COMPRESSED != 0 {
            // Bits 0..x-1 host offset, x..61 additional 512-byte sectors, x = 62 - (bits - 8).
            let shift = 62 - (self.cluster_bits - 8);
            let off = entry & ((1u64 << shift) - 1);
            let sectors = ((entry >> shift) & ((1u64 << (self.cluster_bits - 8)) - 1)) + 1;
            let len = sectors * 512 - (off & 511);
            return Ok(Cluster::Compressed { off, len });
        }
        let off = entry & OFFSET_MASK;
        if entry & OFLAG_ZERO != 0 {
            return Ok(Cluster::Zero);
        }
        if off == 0 {
            return Ok(Cluster::Unallocated);
        }
        if off & (self.cluster_size() - 1) != 0 {
            return Err(format!(
                "data cluster offset {off:#x} is not cluster aligned"
            ));
        }
        Ok(Cluster::Data(off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_standard_entries() {
        let g = Geometry { cluster_bits: 16 };
        assert_eq!(g.decode(0), Ok(Cluster::Unallocated));
        assert_eq!(g.decode(1), Ok(Cluster::Zero));
        assert_eq!(g.decode(0x3_0000 | 1), Ok(Cluster::Zero));
        assert_eq!(g.decode(0x3_0000 | 1 << 63), Ok(Cluster::Data(0x3_0000)));
        assert!(g.decode(0x3_0200).is_err());
    }

    #[test]
    fn decodes_compressed_entries() {
        // 64 KiB clusters: offset in bits 0-53, extra sectors in bits 54-61.
        let g = Geometry { cluster_bits: 16 };
        let e = OFLAG_COMPRESSED | 3 << 54 | 0x1_0100;
        assert_eq!(
            g.decode(e),
            Ok(Cluster::Compressed {
                off: 0x1_0100,
                len: 4 * 512 - 0x100
            })
        );
        // 512-byte clusters: one bit of sector count (bit 61).
        let g = Geometry { cluster_bits: 9 };
        let e = OFLAG_COMPRESSED | 1 << 61 | 0x800;
        assert_eq!(
            g.decode(e),
            Ok(Cluster::Compressed {
                off: 0x800,
                len: 1024
            })
        );
    }
}
