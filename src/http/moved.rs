//! Answers for a renamed dataset's old name. The gate refuses an old name with `Kind::Moved`;
//! its answer carries a [`Moved`] extension, and here, where the request's address is
//! known, it becomes a `307` to the same address under the new name (the method and body go
//! along: pages, REST, LFS). git's own requests are served at the old address instead
//! (`crate::http::git`: git follows a redirect only on its first request). An address that names
//! the dataset in no path segments (a query's text, an S3 bucket) cannot be moved: it answers
//! `404` with the new name.

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::Response;

pub use crate::http::error::Moved;

/// Turns an answer for an old name into its redirect, or else leaves it.
pub fn answer(uri: &Uri, response: &mut Response) {
    let Some(moved) = response.extensions_mut().remove::<Moved>() else {
        return;
    };
    let to = location(uri, &moved.from, &moved.to).and_then(|to| HeaderValue::from_str(&to).ok());
    match to {
        Some(to) => {
            response.headers_mut().insert(header::LOCATION, to);
        }
        None => *response.status_mut() = StatusCode::NOT_FOUND,
    }
}

/// `uri` with the first two path segments that spell `from` (`ns/name`, or `ns/name.git`) spelled
/// `to`, its query kept.
fn location(uri: &Uri, from: &str, to: &str) -> Option<String> {
    let (from_ns, from_name) = from.split_once('/')?;
    let (to_ns, to_name) = to.split_once('/')?;
    let mut segments: Vec<String> = uri.path().split('/').map(str::to_owned).collect();
    let at = segments.windows(2).position(|w| {
        let name = &w[1];
        w[0].eq_ignore_ascii_case(from_ns)
            && (name.eq_ignore_ascii_case(from_name)
                || name
                    .strip_suffix(".git")
                    .is_some_and(|n| n.eq_ignore_ascii_case(from_name)))
    })?;
    let git = segments[at + 1].ends_with(".git") && !from_name.ends_with(".git");
    segments[at] = to_ns.to_owned();
    segments[at + 1] = if git {
        format!("{to_name}.git")
    } else {
        to_name.to_owned()
    };
    let path = segments.join("/");
    Some(match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(uri: &str) -> Option<String> {
        location(&uri.parse().unwrap(), "alice/old", "alice/new")
    }

    #[test]
    fn the_old_name_is_replaced_once_in_every_surface() {
        assert_eq!(
            at("/datasets/alice/old").as_deref(),
            Some("/datasets/alice/new")
        );
        assert_eq!(
            at("/datasets/Alice/OLD/files/a/old?rev=v1").as_deref(),
            Some("/datasets/alice/new/files/a/old?rev=v1")
        );
        assert_eq!(
            at("/alice/old.git/info/refs?service=git-upload-pack").as_deref(),
            Some("/alice/new.git/info/refs?service=git-upload-pack")
        );
        assert_eq!(
            at("/api/v1/datasets/alice/old/tree").as_deref(),
            Some("/api/v1/datasets/alice/new/tree")
        );
        assert_eq!(at("/api/v1/sql"), None);
        assert_eq!(at("/datasets/bob/old"), None);
    }
}
