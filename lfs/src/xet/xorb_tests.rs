//! Tests of the xorb format (`xorb.rs`): round trips through all three compression schemes,
//! range decoding, the chunk index, and the refusal of malformed, truncated or oversized xorbs.
//! The xorb `hf_xet` itself wrote is checked in `tests.rs`.

use super::*;
use crate::xet::tests::lcg;

fn header(out: &mut Vec<u8>, scheme: u8, compressed: usize, unpacked: usize) {
    out.push(0);
    out.extend_from_slice(&(compressed as u32).to_le_bytes()[..3]);
    out.push(scheme);
    out.extend_from_slice(&(unpacked as u32).to_le_bytes()[..3]);
}

fn lz4(data: &[u8]) -> Vec<u8> {
    let mut enc = FrameEncoder::new(Vec::new());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// Byte grouping, by hand: group k holds bytes k, k+4, k+8, …
fn bg4_split(data: &[u8]) -> Vec<u8> {
    (0..4)
        .flat_map(|k| data.iter().skip(k).step_by(4).copied())
        .collect()
}

/// A chunk stored with scheme 2 (byte-grouped, then LZ4-framed).
fn write_bg4(out: &mut Vec<u8>, data: &[u8]) {
    let packed = lz4(&bg4_split(data));
    header(out, SCHEME_BG4_LZ4, packed.len(), data.len());
    out.extend_from_slice(&packed);
}

/// Little-endian f32 samples of a slow sine: byte grouping suits them.
fn floats(n: usize) -> Vec<u8> {
    (0..n)
        .flat_map(|i| ((i as f32) / 100.0).sin().to_le_bytes())
        .collect()
}

fn scheme_of(bytes: &[u8], c: &ChunkEntry) -> u8 {
    bytes[c.start as usize + 4]
}

#[test]
fn all_three_schemes_round_trip() {
    let random = lcg(20_000, 9);
    let text: Vec<u8> = (0..3000)
        .flat_map(|i| format!("line {i} of some text\n").into_bytes())
        .take(MAX_CHUNK)
        .collect();
    let grouped = floats(4001); // 16004 bytes: the groups differ in size
    let mut x = Vec::new();
    write_chunk(&mut x, &random);
    write_chunk(&mut x, &text);
    write_bg4(&mut x, &grouped);
    write_chunk(&mut x, &[42]);
    let xorb = parse(&x).unwrap();
    let schemes: Vec<u8> = xorb.chunks.iter().map(|c| scheme_of(&x, c)).collect();
    assert_eq!(schemes, [0, 1, 2, 0]);
    let parts = [&random[..], &text[..], &grouped[..], &[42][..]];
    for (c, part) in xorb.chunks.iter().zip(parts) {
        assert_eq!(c.hash, chunk_hash(part));
        assert_eq!(c.unpacked as usize, part.len());
    }
    let leaves: Vec<_> = parts
        .iter()
        .map(|p| (chunk_hash(p), p.len() as u64))
        .collect();
    assert_eq!(xorb.hash, xorb_hash(&leaves));
    assert_eq!(xorb.len, x.len() as u64);
    assert_eq!(xorb.chunks[0].start, 0);
    assert_eq!(xorb.chunks[3].end as usize, x.len());
    assert_eq!(xorb.unpacked_len(), leaves.iter().map(|l| l.1).sum::<u64>());

    // Decoding any whole-chunk range gives the chunks' bytes back.
    let c = &xorb.chunks;
    let mut out = b"prefix".to_vec();
    decode(&x[c[1].start as usize..c[2].end as usize], &mut out).unwrap();
    assert_eq!(out, [&b"prefix"[..], &text, &grouped].concat());
    let mut all = Vec::new();
    decode(&x, &mut all).unwrap();
    assert_eq!(all, parts.concat());
    let mut none = Vec::new();
    decode(&[], &mut none).unwrap();
    assert!(none.is_empty());
}

#[test]
fn bg4_regroups_every_length() {
    for n in 1..40 {
        let data: Vec<u8> = (0..n as u8).collect();
        let mut out = Vec::new();
        bg4_regroup(&bg4_split(&data), &mut out);
        assert_eq!(out, data, "{n} bytes");
    }
}

#[test]
fn write_chunk_stores_what_does_not_shrink() {
    let mut x = Vec::new();
    write_chunk(&mut x, &lcg(MAX_CHUNK, 4));
    assert_eq!(x.len(), CHUNK_HEADER + MAX_CHUNK);
    assert_eq!(x[4], SCHEME_NONE);
    let mut z = Vec::new();
    write_chunk(&mut z, &[0; MAX_CHUNK]);
    assert_eq!(z[4], SCHEME_LZ4);
    assert!(z.len() < 1000);
    assert_eq!(
        parse(&z).unwrap().chunks[0].hash,
        chunk_hash(&[0; MAX_CHUNK])
    );
}

#[test]
fn a_footer_is_ignored_but_a_stray_tail_is_not() {
    let mut x = Vec::new();
    write_chunk(&mut x, b"hello xet");
    let plain = parse(&x).unwrap();
    let mut with_footer = x.clone();
    with_footer.extend_from_slice(b"XETBLOB\x01");
    with_footer.extend_from_slice(&[7; 100]);
    let footed = parse(&with_footer).unwrap();
    assert_eq!(footed.hash, plain.hash);
    assert_eq!(footed.len, x.len() as u64);
    assert_eq!(footed.chunks, plain.chunks);
    // The first 4 bytes of the footer's ident alone are a cut-off chunk header.
    let mut stray = x.clone();
    stray.extend_from_slice(b"XETB");
    let e = parse(&stray).unwrap_err().to_string();
    assert!(e.contains("chunk 1") && e.contains("4 bytes into"), "{e}");
    // A range that runs into the footer is refused.
    let e = decode(&with_footer, &mut Vec::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("footer"), "{e}");
    // Only a footer: no chunk.
    assert_eq!(parse(b"XETBLOB\x01").unwrap_err(), FormatError::EmptyXorb);
}

fn problem(bytes: &[u8]) -> String {
    let e = parse(bytes).unwrap_err();
    let mut out = vec![1, 2, 3];
    let d = decode(bytes, &mut out).unwrap_err();
    assert_eq!(out, [1, 2, 3], "decode leaves `out` as it was");
    assert_eq!(e, d);
    e.to_string()
}

#[test]
fn malformed_chunks_are_refused_with_the_reason() {
    let text = b"abcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabcabc".repeat(40);
    let mut good = Vec::new();
    write_chunk(&mut good, b"first chunk");
    let second = good.len();
    write_chunk(&mut good, &text);
    assert_eq!(good[second + 4], SCHEME_LZ4);

    assert_eq!(parse(&[]).unwrap_err(), FormatError::EmptyXorb);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            good[..second + 5].to_vec(),
            "5 bytes into the 8-byte chunk header",
        ),
        (good[..good.len() - 1].to_vec(), "only"),
        (
            {
                let mut b = good.clone();
                b[second] = 1;
                b
            },
            "version 1",
        ),
        (
            {
                let mut b = good.clone();
                b[second + 4] = 3;
                b
            },
            "compression scheme 3",
        ),
        (
            {
                let mut b = good.clone();
                b[second + 5..second + 8].copy_from_slice(&[1, 0, 2]); // 131073
                b
            },
            "131073 bytes, more than the 131072",
        ),
        (
            {
                let mut b = good.clone();
                b[second + 1..second + 4].copy_from_slice(&[1, 0, 4]); // 262145
                b
            },
            "262145 compressed bytes",
        ),
        (
            {
                let mut b = good.clone();
                b[second + 5..second + 8].copy_from_slice(&[0, 0, 0]);
                b
            },
            "empty",
        ),
        (
            {
                // The frame holds 2040 bytes; the header claims 2041.
                let mut b = good.clone();
                b[second + 5] = b[second + 5].wrapping_add(1);
                b
            },
            "the header says 2041 bytes but it decompresses to 2040",
        ),
        (
            {
                let mut b = good.clone();
                b[second + 5] = b[second + 5].wrapping_sub(1);
                b
            },
            "the header says 2039 bytes but it decompresses to more",
        ),
        (
            {
                let mut b = good.clone();
                b[second + CHUNK_HEADER] ^= 0xff; // the LZ4 frame's magic number
                b
            },
            "not the LZ4 frame magic number",
        ),
        (
            {
                let mut b = Vec::new();
                header(&mut b, SCHEME_NONE, 3, 4);
                b.extend_from_slice(b"abc");
                b
            },
            "3 bytes stored for 4",
        ),
    ];
    for (bytes, want) in cases {
        let e = problem(&bytes);
        assert!(e.contains(want), "{e:?} lacks {want:?}");
        if !e.contains("stored for") {
            assert!(
                e.starts_with(&format!("chunk 1 (at byte {second}):")),
                "{e}"
            );
        }
    }
}

#[test]
fn bg4_chunks_are_checked_like_the_others() {
    let data = floats(1000);
    let mut x = Vec::new();
    write_bg4(&mut x, &data);
    x[5] = x[5].wrapping_add(4);
    let e = problem(&x);
    assert!(e.contains("4004 bytes but it decompresses to 4000"), "{e}");
}

#[test]
fn oversized_xorbs_are_refused_before_reading() {
    let big = vec![0u8; MAX_XORB_BYTES + XORB_SLACK + 1];
    let e = parse(&big).unwrap_err();
    assert!(matches!(e, FormatError::XorbTooLarge { .. }), "{e}");
    assert!(e.to_string().contains("split it"));

    let mut many = Vec::new();
    for i in 0..MAX_XORB_CHUNKS {
        write_chunk(&mut many, &(i as u32).to_le_bytes());
    }
    assert_eq!(parse(&many).unwrap().chunks.len(), MAX_XORB_CHUNKS);
    write_chunk(&mut many, b"one more");
    assert_eq!(
        parse(&many).unwrap_err(),
        FormatError::TooManyChunks {
            max: MAX_XORB_CHUNKS
        }
    );
}

#[test]
fn the_index_round_trips_and_refuses_nonsense() {
    let mut x = Vec::new();
    for seed in 0..5 {
        write_chunk(&mut x, &lcg(1000 + seed as usize, seed));
    }
    let chunks = parse(&x).unwrap().chunks;
    let index = index_bytes(&chunks);
    assert_eq!(index.len(), 5 * 40);
    assert_eq!(parse_index(&index).unwrap(), chunks);
    assert_eq!(parse_index(&[]).unwrap(), []);

    let e = parse_index(&index[..39]).unwrap_err().to_string();
    assert!(e.contains("39 bytes"), "{e}");
    let mut zero = index.clone();
    zero[40 + 32..40 + 36].copy_from_slice(&0u32.to_le_bytes());
    let e = parse_index(&zero).unwrap_err().to_string();
    assert!(e.contains("entry 1") && e.contains("0 bytes"), "{e}");
    let mut backwards = index.clone();
    backwards[80 + 36..80 + 40].copy_from_slice(&5u32.to_le_bytes());
    let e = parse_index(&backwards).unwrap_err().to_string();
    assert!(
        e.contains("entry 2") && e.contains("not after its start"),
        "{e}"
    );
}

#[test]
#[should_panic(expected = "a xorb chunk holds 1 to 131072 bytes")]
fn write_chunk_refuses_an_empty_chunk() {
    write_chunk(&mut Vec::new(), &[]);
}
