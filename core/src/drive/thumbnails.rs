//! Thumbnails of the images in a dataset's folders, for the grid view. One is made from an
//! object of at most [`SOURCE_MAX`] bytes, decoded within limits on its pixels and memory, on the
//! blocking pool (two at a time, each given [`TIME`]), scaled to fit [`EDGE`] pixels and encoded
//! as JPEG (PNG where the image has transparency). An object never changes, so thumbnails are kept
//! by its id, in a cache of bounded size.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use strata_lfs::Oid;

use crate::datasets::gate::Gated;
use crate::datasets::git_on;
use crate::error::{Error, Kind, Result};
use crate::storage::Read;
use crate::Core;

/// The longest side of a thumbnail, in pixels.
pub const EDGE: u32 = 240;
/// The largest image a thumbnail is made of.
pub const SOURCE_MAX: u64 = 24 << 20;
/// The time one thumbnail may take.
pub const TIME: Duration = Duration::from_secs(10);
/// The widest and tallest image decoded, and the memory a decoder may take.
const PIXELS_MAX: u32 = 12_000;
const ALLOC_MAX: u64 = 256 << 20;
/// The bytes of thumbnails kept (some thousands).
const CACHE_BYTES: usize = 48 << 20;

/// A thumbnail and its media type.
#[derive(Debug)]
pub struct Thumbnail {
    pub bytes: Bytes,
    pub content_type: &'static str,
}

/// Thumbnails made lately, by object id, and the turns of those being made.
#[derive(Debug)]
pub struct Thumbnails {
    kept: Mutex<(usize, HashMap<Oid, Arc<Thumbnail>>)>,
    turns: Arc<tokio::sync::Semaphore>,
}

impl Default for Thumbnails {
    fn default() -> Self {
        Thumbnails {
            kept: Mutex::default(),
            turns: Arc::new(tokio::sync::Semaphore::new(2)),
        }
    }
}

/// The thumbnail of the image at `path` (at `rev`) of a dataset the caller's gate let them into:
/// refused as its raw bytes would be (a share that does not cover it, a policy that withholds it).
pub async fn of_file(
    core: &Core,
    dataset: &Gated,
    path: &str,
    rev: Option<&str>,
) -> Result<Arc<Thumbnail>> {
    dataset.check_rev(rev)?;
    let (at, file) = (rev.map(str::to_owned), path.to_owned());
    let (_, data) = git_on(core, dataset, move |ms, ds| {
        ms.read_file_upto(ds, at.as_deref(), &file, SOURCE_MAX)
    })
    .await?;
    // A file past the limit is no LFS pointer (those are a few lines): too large, unread.
    let data = data.ok_or_else(too_large)?;
    let pointer = strata_lfs::pointer::lenient(&data);
    dataset.read_file(core, path, rev, pointer.as_ref()).await?;
    match pointer {
        Some(p) if p.size > SOURCE_MAX => Err(too_large()),
        Some(p) => kept_or_made(core, p.oid, read_all(core, dataset.id, &p.oid)).await,
        None => kept_or_made(core, Oid::of(&data), async { Ok(data) }).await,
    }
}

/// The thumbnail of the bytes `key` names: kept, or made of what `bytes` reads, in turn (the
/// turn held until the decoder is done, even past [`TIME`]).
async fn kept_or_made(
    core: &Core,
    key: Oid,
    bytes: impl std::future::Future<Output = Result<Vec<u8>>>,
) -> Result<Arc<Thumbnail>> {
    let cache = &core.thumbnails;
    if let Some(t) = cache
        .kept
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .1
        .get(&key)
    {
        return Ok(t.clone());
    }
    let turn = cache
        .turns
        .clone()
        .acquire_owned()
        .await
        .map_err(Error::internal)?;
    let bytes = bytes.await?;
    let made = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        make(&bytes)
    });
    let thumbnail = match tokio::time::timeout(TIME, made).await {
        Ok(joined) => Arc::new(joined.map_err(Error::internal)??),
        Err(_) => return Err(Error::new(Kind::Busy, "the thumbnail took too long")),
    };
    let mut kept = cache.kept.lock().unwrap_or_else(|e| e.into_inner());
    if kept.0 + thumbnail.bytes.len() > CACHE_BYTES {
        *kept = Default::default();
    }
    kept.0 += thumbnail.bytes.len();
    kept.1.insert(key, thumbnail.clone());
    Ok(thumbnail)
}

fn too_large() -> Error {
    Error::too_large(format!(
        "thumbnails are made of images up to {} MiB",
        SOURCE_MAX >> 20
    ))
}

/// The whole object, at most [`SOURCE_MAX`] bytes of it.
async fn read_all(core: &Core, repo_id: i64, oid: &Oid) -> Result<Vec<u8>> {
    let Some(Read::Found { object, .. }) = core.storage.read(repo_id, oid, None).await? else {
        return Err(Error::not_found("the image's bytes are not in storage"));
    };
    let mut out = Vec::new();
    let mut body = object.body;
    while let Some(chunk) = body.next().await {
        out.extend_from_slice(&chunk.map_err(Error::internal)?);
        if out.len() as u64 > SOURCE_MAX {
            return Err(Error::too_large("the image is larger than it said"));
        }
    }
    Ok(out)
}

/// A thumbnail of the image in `bytes`.
pub fn make(bytes: &[u8]) -> Result<Thumbnail> {
    let unreadable = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => Error::too_large(format!(
            "thumbnails are made of images up to {PIXELS_MAX} pixels a side"
        )),
        e => Error::unprocessable(format!("not an image this server reads: {e}")),
    };
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(Error::internal)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(PIXELS_MAX);
    limits.max_image_height = Some(PIXELS_MAX);
    limits.max_alloc = Some(ALLOC_MAX);
    reader.limits(limits);
    let small = reader.decode().map_err(unreadable)?.thumbnail(EDGE, EDGE);
    let mut out = Cursor::new(Vec::new());
    let content_type = if small.color().has_alpha() {
        small
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(Error::internal)?;
        "image/png"
    } else {
        let rgb = small.to_rgb8();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .encode_image(&rgb)
            .map_err(Error::internal)?;
        "image/jpeg"
    };
    Ok(Thumbnail {
        bytes: out.into_inner().into(),
        content_type,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32, alpha: bool) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        let img: image::DynamicImage = if alpha {
            image::RgbaImage::from_pixel(w, h, image::Rgba([10, 20, 30, 128])).into()
        } else {
            image::RgbImage::from_pixel(w, h, image::Rgb([10, 20, 30])).into()
        };
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn thumbnails_fit_the_edge_keep_transparency_and_refuse_what_is_no_image() {
        let t = make(&png(1200, 600, false)).unwrap();
        assert_eq!(t.content_type, "image/jpeg");
        let back = image::load_from_memory(&t.bytes).unwrap();
        assert_eq!((back.width(), back.height()), (EDGE, EDGE / 2));
        assert_eq!(make(&png(30, 40, true)).unwrap().content_type, "image/png");
        let e = make(b"<svg onload=alert(1)>").unwrap_err();
        assert_eq!(e.kind, Kind::Invalid);
        // Wider than allowed (a few bytes of PNG): refused before it is decoded.
        let wide = png(PIXELS_MAX + 1, 1, false);
        assert!(wide.len() < 1024);
        assert_eq!(make(&wide).unwrap_err().kind, Kind::TooLarge);
    }
}
