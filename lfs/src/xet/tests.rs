//! Golden tests against the real client, `hf_xet` 1.8.0 (PyPI): file hashes and chunk lengths it
//! computed for deterministic inputs, and a xorb and a shard it wrote (`testdata/`), which must
//! parse, verify and re-serialize to what it sent.
//!
//! How the values were obtained (Python, in a venv with `pip install hf_xet==1.8.0`):
//!
//! ```text
//! import hf_xet, math, os, struct
//! def lcg(n, seed=0x5EED):           # the same generator as `lcg` below
//!     x, out = seed, bytearray(n)
//!     for i in range(n):
//!         x = (x * 6364136223846793005 + 1442695040888963407) & (2**64 - 1)
//!         out[i] = x >> 56
//!     return bytes(out)
//! r = lcg(3_000_000)
//! files = {"rand3m": r, "zeros1m": bytes(1_000_000), "rand5k": r[:5000],
//!          "rand8192": r[:8192], "rand131072": r[:131072], "empty": b"",
//!          "floats": b"".join(struct.pack("<f", math.sin(i / 1000.0)) for i in range(50_000)),
//!          "text": b"".join(b"line %d of some text, the quick brown fox\n" % i for i in range(3000))}
//! for k, v in files.items(): open(k, "wb").write(v)
//! for k, info in zip(files, hf_xet.hash_files(list(files))): print(k, info.hash)
//! # Chunk lengths and the testdata files: upload to a local CAS, which keeps xorbs and shards
//! # on disk (xet/xorbs/xorbs/default.<hash>, xet/xorbs/shards/<hash>.mdb):
//! c = hf_xet.XetSession().new_upload_commit(endpoint="local:///tmp/cas")
//! for k in files: c.start_upload_file(os.path.abspath(k))
//! c.wait_to_finish()
//! # testdata/hf_xet_three_files.*: the same with three small files, in this order:
//! small = {"a_rand": lcg(2000, seed=7),
//!          "b_floats": b"".join(struct.pack("<f", math.sin(i / 100.0)) for i in range(1500)),
//!          "c_text": b"".join(b"line %d of some text\n" % i for i in range(300))[:6000]}
//! ```
//!
//! The chunk lengths were read from the uploaded shard's CAS section (`unpacked_segment_bytes`).

use super::chunker::{chunks, Chunker};
use super::hash::{chunk_hash, file_hash, range_hash, Hash};
use super::shard::{self, CHUNK_GLOBAL_DEDUP};
use super::xorb;
use sha2::{Digest, Sha256};

/// Bytes from a 64-bit LCG (Knuth's MMIX constants): the top byte of each state.
pub(crate) fn lcg(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

/// Little-endian f32 samples of `sin(i / div)`, computed in f64 like Python's `math.sin`.
fn sines(n: usize, div: f64) -> Vec<u8> {
    (0..n)
        .flat_map(|i| ((i as f64 / div).sin() as f32).to_le_bytes())
        .collect()
}

fn lines(n: usize, text: &str) -> Vec<u8> {
    (0..n)
        .flat_map(|i| format!("line {i} {text}\n").into_bytes())
        .collect()
}

/// The file hash and chunk lengths of `data`, chunked in one go.
fn xet(data: &[u8]) -> (Hash, Vec<usize>) {
    let cs = chunks(data);
    let leaves: Vec<_> = cs
        .iter()
        .map(|r| (chunk_hash(&data[r.clone()]), r.len() as u64))
        .collect();
    (file_hash(&leaves), cs.iter().map(|r| r.len()).collect())
}

const RAND3M_CHUNKS: [usize; 48] = [
    131072, 47576, 16240, 131072, 72757, 28370, 16878, 43684, 63057, 38547, 93089, 14370, 131072,
    107546, 26489, 18354, 131072, 62529, 12048, 118273, 37916, 79673, 72077, 52221, 44656, 10103,
    111161, 56758, 17380, 123056, 58015, 26892, 34314, 85516, 17880, 131072, 32666, 93695, 36809,
    51610, 131072, 73689, 22045, 131072, 11431, 37413, 47480, 68233,
];

#[test]
fn file_hashes_and_chunks_match_hf_xet() {
    let r = lcg(3_000_000, 0x5EED);
    let cases: [(&str, Vec<u8>, &str, &[usize]); 8] = [
        (
            "rand3m",
            r.clone(),
            "95c1ebf7b62f7ddcaf6ddcfa2cdc86eb042f5332263d8a2029ad2b58d9d49d89",
            &RAND3M_CHUNKS,
        ),
        (
            "zeros1m",
            vec![0; 1_000_000],
            "c0c85185f4307d40facfd366573176e54fc9c76041e44e32d52489780a6d1eaa",
            &[
                131072, 131072, 131072, 131072, 131072, 131072, 131072, 82496,
            ],
        ),
        (
            "rand5k",
            r[..5000].to_vec(),
            "c35cf20d08f003582830195d9e60d3fb01249e15bd7e9621095c87eba5a566f6",
            &[5000],
        ),
        (
            "rand8192",
            r[..8192].to_vec(),
            "9065285b6b4aa941eb9b1f5c1145d5492c6772a91ced6237df84641ba128c6fe",
            &[8192],
        ),
        (
            "rand131072",
            r[..131072].to_vec(),
            "26fc9539aa3b6adf2872b8bc633791dfef090bfa495b3828e7825f6fb2a65ada",
            &[131072],
        ),
        (
            "empty",
            vec![],
            "0000000000000000000000000000000000000000000000000000000000000000",
            &[],
        ),
        (
            "floats",
            sines(50_000, 1000.0),
            "c9350ba5211581d2ef6e548d1e37ff9327d1763707338a7274741012ba0a1aba",
            &[11798, 131072, 36226, 20904],
        ),
        (
            "text",
            lines(3000, "of some text, the quick brown fox"),
            "e23efece15c2705dfb1b5378971e618514aa1ac80092fd3defb5cf1f7da50267",
            &[14657, 18516, 60286, 37431],
        ),
    ];
    for (name, data, want, want_chunks) in cases {
        let (hash, lens) = xet(&data);
        assert_eq!(lens, want_chunks, "{name}: chunk lengths");
        assert_eq!(hash.hex(), want, "{name}: file hash");
        // Streaming in odd pieces gives the same chunks.
        let mut c = Chunker::new();
        let mut streamed: Vec<usize> = data.chunks(10_007).flat_map(|p| c.push(p)).collect();
        streamed.push(c.finish());
        streamed.retain(|&n| n > 0);
        assert_eq!(streamed, want_chunks, "{name}: streamed");
    }
}

const XORB: &[u8] = include_bytes!("testdata/hf_xet_three_files.xorb");
const SHARD: &[u8] = include_bytes!("testdata/hf_xet_three_files.mdb");
const XORB_HASH: &str = "6515405cf0bd7d13384112436358feb670460be4db61981e3f9aeb8edb63eee9";

/// The three files of the testdata upload, with the file hashes `hf_xet` reported.
fn three_files() -> [(Vec<u8>, &'static str); 3] {
    [
        (
            lcg(2000, 7),
            "36f23a5850e2a689a11752d9c32fbdb63f0f59c7b77db0c678cabb7807dac6fb",
        ),
        (
            sines(1500, 100.0),
            "4280eec728e45695bb46edf9d6a816808eeecbb0198b38744cbd8f676bb0a3cb",
        ),
        (
            lines(300, "of some text")[..6000].to_vec(),
            "61543e68d0b7d8709327b33c20448de6c3115a1bbe9cbc33bd05ab2f0217b1ce",
        ),
    ]
}

#[test]
fn a_xorb_written_by_hf_xet_parses_and_verifies() {
    let x = xorb::parse(XORB).unwrap();
    // The local CAS stores the xorb under its hash, with a footer (XETBLOB) after the chunks.
    assert_eq!(x.hash.hex(), XORB_HASH);
    assert_eq!(x.len, 7829);
    assert_eq!(&XORB[7829..7836], b"XETBLOB");
    let schemes: Vec<u8> = x
        .chunks
        .iter()
        .map(|c| XORB[c.start as usize + 4])
        .collect();
    assert_eq!(schemes, [0, 2, 1], "stored, byte-grouped LZ4, LZ4");
    for (c, (data, _)) in x.chunks.iter().zip(three_files()) {
        assert_eq!(c.unpacked as usize, data.len());
        assert_eq!(c.hash, chunk_hash(&data));
        let mut out = Vec::new();
        xorb::decode(&XORB[c.start as usize..c.end as usize], &mut out).unwrap();
        assert_eq!(out, data);
    }
    // Any corrupted byte of the chunks is caught: by a check, or by the hash.
    for at in [0, 1, 5, 8, 2100, 2107, 2200, 7000, 7828] {
        let mut bad = XORB.to_vec();
        bad[at] ^= 0x5a;
        if let Ok(p) = xorb::parse(&bad) {
            assert_ne!(p.hash, x.hash, "byte {at}");
        }
    }
}

#[test]
fn a_shard_written_by_hf_xet_parses_and_verifies() {
    let s = shard::parse(SHARD).unwrap();
    let x = xorb::parse(XORB).unwrap();
    assert_eq!(s.files.len(), 3);
    for (i, (f, (data, want))) in s.files.iter().zip(three_files()).enumerate() {
        let (hash, _) = xet(&data);
        assert_eq!(hash.hex(), want);
        assert_eq!(f.hash, hash);
        assert_eq!(f.size(), data.len() as u64);
        assert_eq!(f.segments.len(), 1);
        let seg = &f.segments[0];
        assert_eq!(seg.xorb, x.hash);
        assert_eq!((seg.start, seg.end), (i as u32, i as u32 + 1));
        assert_eq!(f.verification, [range_hash(&[x.chunks[i].hash])]);
        let sha: [u8; 32] = Sha256::digest(&data).into();
        assert_eq!(f.sha256, Some(sha));
    }
    assert_eq!(s.xorbs.len(), 1);
    let xe = &s.xorbs[0];
    assert_eq!(xe.hash, x.hash);
    let listed: Vec<_> = x
        .chunks
        .iter()
        .scan(0, |at, c| {
            *at += c.unpacked;
            Some((c.hash, *at - c.unpacked, c.unpacked))
        })
        .collect();
    assert_eq!(xe.chunks, listed);
    assert_eq!(xe.flags, [CHUNK_GLOBAL_DEDUP; 3], "the file starts");

    // Without its footer (as a client uploads it), the shard reads the same, and our writer
    // reproduces it byte for byte.
    let body = SHARD.len() - 200;
    let mut upload = SHARD[..body].to_vec();
    upload[40..48].copy_from_slice(&0u64.to_le_bytes());
    assert_eq!(shard::parse(&upload).unwrap(), s);
    assert_eq!(shard::write(&s), upload);
}
