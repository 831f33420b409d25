//! Guest names that are not UTF-8, carried losslessly in the `&str` API.
//!
//! Linux names are bytes (anything but '/' and NUL). `encode` maps them to a `String` that is
//! the name itself when it is valid UTF-8; a byte that is not part of valid UTF-8 becomes one
//! escape char, U+10FF00 + byte (a private-use code point of plane 16). Such a byte is always
//! 0x80 or above, so the escape chars are U+10FF80..=U+10FFFF, and a *genuine* char of that
//! range in a name is escaped too, byte by byte, which keeps the mapping injective. `decode`
//! turns every escape char back into its byte. Decoding never yields '/' or NUL from an escape
//! (those are below 0x80), so a guest path has the same components before and after decoding.
//!
//! `display` renders escape chars as `\xNN` for messages and reports.

use std::borrow::Cow;

/// The first escape char; escape chars are `BASE + byte` for bytes 0x80..=0xFF.
const BASE: u32 = 0x10_FF00;
const FIRST: char = '\u{10FF80}';
const LAST: char = '\u{10FFFF}';

fn is_escape(c: char) -> bool {
    (FIRST..=LAST).contains(&c)
}

fn escape(b: u8) -> char {
    // b >= 0x80 for every caller; BASE + any byte is a valid scalar value (no surrogates).
    char::from_u32(BASE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The byte an escape char stands for.
fn unescape(c: char) -> Option<u8> {
    if is_escape(c) {
        u8::try_from(u32::from(c) - BASE).ok()
    } else {
        None
    }
}

/// A guest name (or path, or link target) as bytes -> the `&str` form used by `GuestFs`.
pub fn encode(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes)
        && !s.chars().any(is_escape)
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if is_escape(c) {
                let mut buf = [0u8; 4];
                out.extend(c.encode_utf8(&mut buf).bytes().map(escape));
            } else {
                out.push(c);
            }
        }
        out.extend(chunk.invalid().iter().copied().map(escape));
    }
    Cow::Owned(out)
}

/// The bytes a `GuestFs` name, path or link target stands for on the filesystem.
pub fn decode(s: &str) -> Cow<'_, [u8]> {
    if !has_escapes(s) {
        return Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        match unescape(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Cow::Owned(out)
}

/// True when `s` holds an escaped byte (the name was not UTF-8, or held an escape char).
pub fn has_escapes(s: &str) -> bool {
    s.chars().any(is_escape)
}

/// `s` for humans, logs and JSON: each escaped byte as `\xNN`, everything else unchanged.
pub fn display(s: &str) -> Cow<'_, str> {
    if !has_escapes(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match unescape(c) {
            Some(b) => out.push_str(&format!("\\x{b:02x}")),
            None => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// serde `serialize_with` for a path field: its [`display`] form.
pub fn serialize<S: serde::Serializer>(s: &str, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_str(&display(s))
}

/// serde `serialize_with` for a list of paths: each in its [`display`] form.
pub fn serialize_all<S: serde::Serializer>(v: &[String], ser: S) -> Result<S::Ok, S::Error> {
    ser.collect_seq(v.iter().map(|s| display(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
    }

    #[test]
    fn random_bytes_round_trip() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        // Biased towards bytes that make UTF-8 interesting: ASCII, lead bytes, continuations,
        // and the bytes of U+10FFxx (f4 8f bc..bf 80..bf).
        let pick = [
            0x41u8, 0x2e, 0x80, 0xbf, 0xc3, 0xa9, 0xe2, 0xf0, 0xf4, 0x8f, 0xbc, 0xbf,
        ];
        let mut escaped_seen = 0;
        for _ in 0..20_000 {
            let len = (rng.next() % 24) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = rng.next();
                    if r.is_multiple_of(3) {
                        (r >> 8) as u8
                    } else {
                        pick[((r >> 8) % pick.len() as u64) as usize]
                    }
                })
                .collect();
            let enc = encode(&bytes);
            if has_escapes(&enc) {
                escaped_seen += 1;
            }
            assert_eq!(decode(&enc).as_ref(), bytes.as_slice(), "{bytes:x?}");
            // Display never shows a raw escape char.
            assert!(!has_escapes(&display(&enc)));
        }
        assert!(escaped_seen > 10_000, "only {escaped_seen} escaped names");
    }

    #[test]
    fn encode_is_injective_on_random_pairs() {
        let mut rng = Rng(7);
        let mut seen = std::collections::HashMap::new();
        for _ in 0..20_000 {
            let len = (rng.next() % 4) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| (rng.next() >> 16) as u8 | 0x80).collect();
            let enc = encode(&bytes).into_owned();
            if let Some(prev) = seen.insert(enc.clone(), bytes.clone()) {
                assert_eq!(prev, bytes, "{enc:?}");
            }
        }
    }

    #[test]
    fn valid_utf8_is_unchanged_and_borrowed() {
        for s in [
            "",
            "hostname",
            "café.log",
            "日本語",
            "a b\tc",
            "\u{10FF7F}",
            "\u{10FEFF}",
        ] {
            let e = encode(s.as_bytes());
            assert!(matches!(e, Cow::Borrowed(_)), "{s:?}");
            assert_eq!(e, s);
            assert!(matches!(decode(s), Cow::Borrowed(_)));
            assert_eq!(display(s), s);
        }
    }

    #[test]
    fn invalid_bytes_become_one_escape_each() {
        let e = encode(b"caf\xe9.log");
        assert_eq!(e, "caf\u{10FFE9}.log");
        assert_eq!(display(&e), "caf\\xe9.log");
        assert_eq!(encode(b"\xff\xfe"), "\u{10FFFF}\u{10FFFE}");
        assert_eq!(decode("\u{10FFFF}\u{10FFFE}").as_ref(), b"\xff\xfe");
    }

    #[test]
    fn genuine_escape_chars_are_escaped_and_restored() {
        let genuine = "x\u{10FFE9}y";
        let e = encode(genuine.as_bytes());
        // f4 8f bf a9: four escape chars, so it cannot be confused with the byte e9.
        assert_eq!(e, "x\u{10FFF4}\u{10FF8F}\u{10FFBF}\u{10FFA9}y");
        assert_ne!(e, encode(b"x\xe9y"));
        assert_eq!(decode(&e).as_ref(), genuine.as_bytes());
        assert_eq!(display(&e), "x\\xf4\\x8f\\xbf\\xa9y");
    }

    #[test]
    fn decoding_never_makes_a_separator_or_nul() {
        // Below U+10FF80 nothing is an escape: these stay their own UTF-8 bytes.
        for c in ['\u{10FF00}', '\u{10FF2F}', '\u{10FF7F}'] {
            let s = c.to_string();
            assert_eq!(decode(&s).as_ref(), s.as_bytes());
        }
    }

    #[test]
    fn json_shows_escapes_readably() {
        #[derive(serde::Serialize)]
        struct P {
            #[serde(serialize_with = "serialize")]
            path: String,
            #[serde(serialize_with = "serialize_all")]
            paths: Vec<String>,
        }
        let p = P {
            path: encode(b"/tmp/\xff").into_owned(),
            paths: vec![encode(b"/a\xe9").into_owned(), "/b".into()],
        };
        let j = serde_json::to_string(&p).unwrap();
        assert_eq!(j, r#"{"path":"/tmp/\\xff","paths":["/a\\xe9","/b"]}"#);
    }
}
