//! MBR partition tables, through `mbrman` (probed after GPT).
