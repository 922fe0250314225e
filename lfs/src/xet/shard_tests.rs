//! Tests of the shard format (`shard.rs`): write → parse round trips, the layout of global-dedup
//! answers, and the refusal of malformed shards before anything is allocated from their counts.
//! The shard `hf_xet` itself wrote is checked in `tests.rs`.

use super::*;
use crate::xet::hash::chunk_hash;

fn h(i: u8) -> Hash {
    chunk_hash(&[i])
}

fn sample() -> Shard {
    let xorb = XorbEntry {
        hash: h(100),
        chunks: vec![
            (h(1), 0, 70_000),
            (h(2), 70_000, 9_000),
            (h(3), 79_000, 131_072),
        ],
        flags: vec![CHUNK_GLOBAL_DEDUP, 0, 0],
    };
    Shard {
        files: vec![
            FileEntry {
                hash: h(200),
                segments: vec![
                    Segment {
                        xorb: h(100),
                        unpacked: 79_000,
                        start: 0,
                        end: 2,
                    },
                    Segment {
                        xorb: h(101),
                        unpacked: 5,
                        start: 7,
                        end: 8,
                    },
                ],
                verification: vec![h(50), h(51)],
                sha256: Some([9; 32]),
            },
            FileEntry {
                hash: h(201),
                segments: vec![Segment {
                    xorb: h(100),
                    unpacked: 131_072,
                    start: 2,
                    end: 3,
                }],
                verification: vec![],
                sha256: None,
            },
            FileEntry {
                hash: Hash::ZERO,
                segments: vec![],
                verification: vec![],
                sha256: None,
            },
        ],
        xorbs: vec![
            xorb,
            XorbEntry {
                hash: h(101),
                chunks: vec![],
                flags: vec![],
            },
        ],
    }
}

#[test]
fn write_then_parse_round_trips() {
    let shard = sample();
    let bytes = write(&shard);
    // Header; file 0: header, 2 segments, 2 verifications, sha256; file 1: header, segment;
    // file 2: header; bookend; xorb 0: header and 3 chunks; xorb 1: header; bookend.
    assert_eq!(bytes.len(), 48 * (1 + 6 + 2 + 1 + 1 + 4 + 1 + 1));
    assert_eq!(&bytes[40..48], &[0; 8], "uploads carry no footer");
    assert_eq!(parse(&bytes).unwrap(), shard);
    assert_eq!(shard.files[0].size(), 79_005);
    // The sha256 is stored with each 8-byte group reversed.
    let sha_at = 48 * 6;
    assert_eq!(&bytes[sha_at..sha_at + 32], &Hash::from_sha256([9; 32]).0);
    assert_eq!(parse(&write(&Shard::default())).unwrap(), Shard::default());
    // Missing flags are written as 0.
    let mut no_flags = sample();
    no_flags.xorbs[0].flags.clear();
    let parsed = parse(&write(&no_flags)).unwrap();
    assert_eq!(parsed.xorbs[0].flags, [0, 0, 0]);
}

#[test]
fn dedup_answers_have_the_footer_clients_read() {
    let x = sample().xorbs;
    let key = h(77);
    let bytes = dedup_answer_at(&x, &key, 1_000, 2_000);
    assert_eq!(&bytes[40..48], &200u64.to_le_bytes());
    let footer_at = bytes.len() - 200;
    assert_eq!(footer_at, 48 + 48 + 48 * 4 + 48 + 48);
    let u = |i: usize| u64::from_le_bytes(bytes[footer_at + 8 * i..][..8].try_into().unwrap());
    let f = footer_at as u64;
    assert_eq!([u(0), u(1), u(2)], [1, 48, 96]);
    assert_eq!([u(3), u(4), u(5), u(6), u(7), u(8)], [f, 0, f, 0, f, 0]);
    assert_eq!(&bytes[footer_at + 72..footer_at + 104], &key.0);
    assert_eq!([u(13), u(14)], [1_000, 2_000]);
    assert_eq!([u(15), u(16), u(17), u(18), u(19), u(20)], [0; 6]);
    assert_eq!([u(21), u(22), u(23), u(24)], [0, 0, 210_072, f]);

    // Read back: no files; the same xorbs, chunk hashes keyed, flags kept.
    let parsed = parse(&bytes).unwrap();
    assert!(parsed.files.is_empty());
    assert_eq!(parsed.xorbs.len(), 2);
    let keyed: Vec<_> = x[0]
        .chunks
        .iter()
        .map(|c| (hmac(&key, &c.0), c.1, c.2))
        .collect();
    assert_eq!(parsed.xorbs[0].chunks, keyed);
    assert_eq!(parsed.xorbs[0].flags, x[0].flags);
    // A zero key leaves the hashes as they are.
    let plain = parse(&dedup_answer(&x, &Hash::ZERO, 5)).unwrap();
    assert_eq!(plain.xorbs, x);
}

fn refused(bytes: &[u8], offset: usize, want: &str) {
    match parse(bytes) {
        Err(FormatError::Shard { offset: o, problem }) => {
            assert!(problem.contains(want), "{problem:?} lacks {want:?}");
            assert_eq!(o, offset, "{problem}");
        }
        other => panic!("expected a refusal ({want}), got {other:?}"),
    }
}

fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn malformed_shards_are_refused() {
    let good = write(&sample());
    refused(&good[..47], 0, "47 bytes is too short");
    let mut b = good.clone();
    b[0] = b'h';
    refused(&b, 0, "not a shard");
    let mut b = good.clone();
    b[32] = 3;
    refused(&b, 32, "version 3 is not supported");
    let mut b = good.clone();
    b[40..48].copy_from_slice(&(good.len() as u64).to_le_bytes());
    refused(&b, 40, "footer");
    let mut b = good.clone();
    b.extend_from_slice(&[0; 48]);
    refused(&b, good.len(), "48 bytes follow the end");
    // Cut inside the file section: the bookend never comes.
    refused(
        &good[..48 * 10 + 10],
        48 * 10,
        "ends inside the file-info section",
    );
    // Cut inside file 0, whose header announces more records than are left.
    refused(
        &good[..48 * 3 + 10],
        48,
        "announces 5 records but only 58 bytes are left",
    );
    refused(
        &good[..good.len() - 1],
        good.len() - 48,
        "ends inside the CAS-info section",
    );
    // A segment with an empty chunk range.
    let mut b = good.clone();
    set_u32(&mut b, 96 + 44, 0);
    refused(&b, 96, "file 0 (");
    refused(&b, 96, "segment 0: the chunk range 0..0 is empty");
}

#[test]
fn absurd_counts_are_refused_before_allocating() {
    let good = write(&sample());
    // File 0 claims 4 billion segments.
    let mut b = good.clone();
    set_u32(&mut b, 48 + 36, u32::MAX);
    refused(&b, 48, "announces 8589934591 records but only");
    // Xorb 0 claims 4 billion chunks.
    let xorb_at = 48 * 11;
    assert_eq!(&b[xorb_at..xorb_at + 32], &h(100).0);
    let mut b = good.clone();
    set_u32(&mut b, xorb_at + 36, u32::MAX);
    refused(&b, xorb_at, "xorb 0 (");
    refused(
        &b,
        xorb_at,
        "lists 4294967295 chunks but only 240 bytes are left",
    );
    // Too big to be a shard at all.
    let huge = vec![0u8; MAX_SHARD_BYTES + 1];
    refused(&huge, 0, "split it");
}

#[test]
fn a_stored_shard_with_lookup_tables_and_footer_parses() {
    let shard = sample();
    let mut b = write(&shard);
    b.extend_from_slice(&[0xab; 96]); // lookup tables: ignored
    b.extend_from_slice(&[0; 200]);
    b[40..48].copy_from_slice(&200u64.to_le_bytes());
    assert_eq!(parse(&b).unwrap(), shard);
}

#[test]
#[should_panic(expected = "1 verification hashes for 2 segments")]
fn write_refuses_partial_verification() {
    let mut s = sample();
    s.files[0].verification.pop();
    write(&s);
}

#[test]
fn kept_segments_round_trip_and_refuse_a_torn_tail() {
    let segments = sample().files[0].segments.clone();
    let bytes = segments_bytes(&segments);
    assert_eq!(bytes.len(), 44 * segments.len());
    assert_eq!(parse_segments(&bytes).unwrap(), segments);
    assert!(parse_segments(&bytes[..bytes.len() - 1]).is_err());
    assert_eq!(parse_segments(&[]).unwrap(), Vec::new());
}
