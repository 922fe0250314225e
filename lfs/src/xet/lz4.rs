//! LZ4 frame decoding for xorb chunks, bounded by the size the chunk header announces: a frame
//! may declare 4 MiB blocks, and a streaming decoder would inflate a whole block before noticing
//! that the chunk holds 128 KiB at most. Blocks are decoded straight into the chunk's bytes
//! instead, and the frame is checked as `lz4_flex`'s `FrameDecoder` (the clients' decoder)
//! checks it: version, reserved bits, block sizes and all checksums, so that everything accepted
//! here decodes on the clients too.

use lz4_flex::block::{decompress_into, decompress_into_with_dict, DecompressError};
use twox_hash::XxHash32;

use super::le;

const MAGIC: u32 = 0x184D_2204;
const FLG_VERSION_MASK: u8 = 0b1100_0000;
const FLG_VERSION_01: u8 = 0b0100_0000;
const FLG_INDEPENDENT_BLOCKS: u8 = 0b0010_0000;
const FLG_BLOCK_CHECKSUMS: u8 = 0b0001_0000;
const FLG_CONTENT_SIZE: u8 = 0b0000_1000;
const FLG_CONTENT_CHECKSUM: u8 = 0b0000_0100;
const FLG_RESERVED: u8 = 0b0000_0010;
const FLG_DICTIONARY_ID: u8 = 0b0000_0001;
const BD_RESERVED: u8 = 0b1000_1111;
const BLOCK_STORED: u32 = 0x8000_0000;

/// Decodes `src`, which must be exactly one LZ4 frame holding exactly `expected` bytes, and
/// appends them to `out`. Writes no more than `expected` bytes whatever the frame claims. On
/// error `out` is as it was, and the message says what is wrong with the frame.
pub(super) fn decode_frame(src: &[u8], expected: usize, out: &mut Vec<u8>) -> Result<(), String> {
    let start = out.len();
    out.resize(start + expected, 0);
    match decode_into(src, &mut out[start..]) {
        Ok(()) => Ok(()),
        Err(e) => {
            out.truncate(start);
            Err(e)
        }
    }
}

fn cut() -> String {
    "its LZ4 frame is cut short".into()
}

/// Decodes the frame `src` into `dst`, which it must fill exactly.
fn decode_into(src: &[u8], dst: &mut [u8]) -> Result<(), String> {
    let magic = le::u32(src, 0).ok_or_else(cut)?;
    if magic != MAGIC {
        return Err(format!(
            "its LZ4 frame starts with {magic:#010x}, not the LZ4 frame magic number"
        ));
    }
    let [flg, bd] = le::bytes::<2>(src, 4).ok_or_else(cut)?;
    if flg & FLG_VERSION_MASK != FLG_VERSION_01 {
        return Err(format!(
            "its LZ4 frame has version bits {:#04b}, not 01",
            flg >> 6
        ));
    }
    if flg & FLG_RESERVED != 0 || bd & BD_RESERVED != 0 {
        return Err("its LZ4 frame sets reserved header bits".into());
    }
    let max_block = match (bd >> 4) & 7 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        id => return Err(format!("its LZ4 frame has an invalid block size id {id}")),
    };
    let mut pos = 6;
    let mut content_size = None;
    if flg & FLG_CONTENT_SIZE != 0 {
        content_size = Some(le::u64(src, pos).ok_or_else(cut)?);
        pos += 8;
    }
    if flg & FLG_DICTIONARY_ID != 0 {
        pos += 4;
    }
    let checksum = *src.get(pos).ok_or_else(cut)?;
    if (XxHash32::oneshot(0, &src[4..pos]) >> 8) as u8 != checksum {
        return Err("its LZ4 frame header checksum is wrong".into());
    }
    pos += 1;
    if let Some(n) = content_size {
        if n != dst.len() as u64 {
            return Err(format!(
                "the header says {} bytes but its LZ4 frame says {n}",
                dst.len()
            ));
        }
    }

    let linked = flg & FLG_INDEPENDENT_BLOCKS == 0;
    let total = dst.len();
    let more = || format!("the header says {total} bytes but it decompresses to more");
    let mut written = 0;
    loop {
        let word = le::u32(src, pos).ok_or_else(cut)?;
        pos += 4;
        if word == 0 {
            break;
        }
        let stored = word & BLOCK_STORED != 0;
        let len = (word & !BLOCK_STORED) as usize;
        if len > max_block || (len == 0 && !stored) {
            return Err(format!(
                "its LZ4 frame has a block of {len} bytes, not 1 to {max_block}"
            ));
        }
        let block = src.get(pos..).and_then(|s| s.get(..len)).ok_or_else(cut)?;
        pos += len;
        if flg & FLG_BLOCK_CHECKSUMS != 0 {
            let sum = le::u32(src, pos).ok_or_else(cut)?;
            pos += 4;
            if XxHash32::oneshot(0, block) != sum {
                return Err("an LZ4 block checksum is wrong".into());
            }
        }
        let (done, free) = dst.split_at_mut(written);
        written += if stored {
            free.get_mut(..len).ok_or_else(more)?.copy_from_slice(block);
            len
        } else {
            let n = if linked {
                decompress_into_with_dict(block, free, done)
            } else {
                decompress_into(block, free)
            };
            n.map_err(|e| match e {
                DecompressError::OutputTooSmall { .. } => more(),
                e => format!("an LZ4 block is corrupt: {e}"),
            })?
        };
    }
    if written != dst.len() {
        return Err(format!(
            "the header says {} bytes but it decompresses to {written}",
            dst.len()
        ));
    }
    if flg & FLG_CONTENT_CHECKSUM != 0 {
        let sum = le::u32(src, pos).ok_or_else(cut)?;
        pos += 4;
        if XxHash32::oneshot(0, dst) != sum {
            return Err("its LZ4 content checksum is wrong".into());
        }
    }
    if pos != src.len() {
        return Err(format!("{} bytes follow its LZ4 frame", src.len() - pos));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use lz4_flex::frame::{BlockMode, BlockSize, FrameDecoder, FrameEncoder, FrameInfo};

    use super::*;
    use crate::xet::tests::lcg;

    fn encode(info: FrameInfo, data: &[u8]) -> Vec<u8> {
        let mut enc = FrameEncoder::with_frame_info(info, Vec::new());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn decode(frame: &[u8], expected: usize) -> Result<Vec<u8>, String> {
        let mut out = b"kept".to_vec();
        let r = decode_frame(frame, expected, &mut out);
        match r {
            Ok(()) => Ok(out.split_off(4)),
            Err(e) => {
                assert_eq!(out, b"kept");
                Err(e)
            }
        }
    }

    /// Text that compresses, with random stretches that do not (stored blocks).
    fn mixed(n: usize) -> Vec<u8> {
        let noise = lcg(n, 5);
        (0..n)
            .map(|i| match (i / 5000) % 3 {
                0 => noise[i],
                _ => b"the quick brown fox "[i % 20],
            })
            .collect()
    }

    #[test]
    fn decodes_every_frame_option_the_encoder_has() {
        let data = mixed(131_072);
        for mode in [BlockMode::Independent, BlockMode::Linked] {
            for size in [BlockSize::Max64KB, BlockSize::Max256KB, BlockSize::Max4MB] {
                for (sums, content) in [(false, None), (true, Some(data.len() as u64))] {
                    let info = FrameInfo::new()
                        .block_mode(mode)
                        .block_size(size)
                        .block_checksums(sums)
                        .content_checksum(sums)
                        .content_size(content);
                    let frame = encode(info, &data);
                    assert_eq!(
                        decode(&frame, data.len()).unwrap(),
                        data,
                        "{mode:?} {size:?}"
                    );
                }
            }
        }
        let random = lcg(70_000, 6);
        let frame = encode(FrameInfo::new(), &random);
        assert_eq!(decode(&frame, random.len()).unwrap(), random);
        assert_eq!(decode(&encode(FrameInfo::new(), b""), 0).unwrap(), b"");
    }

    #[test]
    fn a_frame_cannot_inflate_past_the_header_size() {
        // 4 MiB of zeros in one block: refused as soon as 100 bytes are written.
        let info = FrameInfo::new().block_size(BlockSize::Max4MB);
        let frame = encode(info, &vec![0; 4 << 20]);
        assert!(frame.len() < 20_000);
        let e = decode(&frame, 100).unwrap_err();
        assert_eq!(e, "the header says 100 bytes but it decompresses to more");
        let e = decode(&encode(FrameInfo::new(), &lcg(500, 1)), 499).unwrap_err();
        assert!(e.ends_with("decompresses to more"), "{e}");
        let e = decode(&encode(FrameInfo::new(), b"abc"), 4).unwrap_err();
        assert_eq!(e, "the header says 4 bytes but it decompresses to 3");
        let info = FrameInfo::new().content_size(Some(3));
        let e = decode(&encode(info, b"abc"), 4).unwrap_err();
        assert_eq!(e, "the header says 4 bytes but its LZ4 frame says 3");
    }

    /// Whatever is refused here, the clients' decoder refuses too (or decodes differently).
    #[test]
    fn corrupt_frames_are_refused() {
        let data = mixed(20_000);
        let info = FrameInfo::new()
            .block_size(BlockSize::Max64KB)
            .block_checksums(true)
            .content_checksum(true);
        let frame = encode(info, &data);
        for at in 0..frame.len() {
            for flip in [0x01u8, 0x80] {
                let mut bad = frame.clone();
                bad[at] ^= flip;
                let ours = decode(&bad, data.len());
                let mut theirs = Vec::new();
                let client = FrameDecoder::new(&bad[..]).read_to_end(&mut theirs);
                match ours {
                    Ok(d) => assert!(client.is_ok() && theirs == d, "byte {at}"),
                    Err(_) => assert!(client.is_err() || theirs != data, "byte {at}"),
                }
            }
        }
        for cut in [0, 3, 5, 6, frame.len() - 1] {
            assert!(decode(&frame[..cut], data.len()).is_err(), "cut at {cut}");
        }
        let mut long = frame.clone();
        long.push(0);
        assert_eq!(
            decode(&long, data.len()).unwrap_err(),
            "1 bytes follow its LZ4 frame"
        );
    }
}
