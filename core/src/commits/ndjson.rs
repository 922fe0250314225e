//! A commit written as NDJSON, strata's format and the Hugging Face Hub's (`create_commit`): a
//! header line, then one line per file operation. [`parse`] reads it into the operations a
//! [`super::Change`] carries; it refuses (422) what is not UTF-8, a line that is not one
//! of the four kinds, a second header, an encoding or hash it does not know, and (413) more than
//! [`MAX_OPS`] operations.
//!
//! ```text
//! {"key": "header", "value": {"summary": "…", "description": "…", "parent": "<rev>", "branch": "main"}}
//! {"key": "file", "value": {"path": "README.md", "content": "…", "encoding": "utf-8" | "base64"}}
//! {"key": "lfsFile", "value": {"path": "data/a.csv", "oid": "<sha256>", "size": 123}}
//! {"key": "deletedFile", "value": {"path": "old.csv"}}
//! ```

use base64::Engine;
use serde::Deserialize;
use strata_lfs::pointer::Pointer;
use strata_lfs::Oid;
use strata_metastore::Op;

use crate::error::{Error, Result};

/// Most operations in one commit.
pub const MAX_OPS: usize = 10_000;

#[derive(Deserialize)]
#[serde(tag = "key", content = "value", rename_all = "camelCase")]
enum Line {
    Header(Header),
    File {
        path: String,
        content: String,
        #[serde(default)]
        encoding: Option<String>,
    },
    LfsFile {
        path: String,
        oid: String,
        size: u64,
        /// Hugging Face's clients name the hash (`sha256`, the only one).
        #[serde(default)]
        algo: Option<String>,
    },
    DeletedFile {
        path: String,
    },
}

/// A commit's first line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Header {
    pub summary: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default, alias = "parentCommit")]
    pub parent: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    /// The LFS files written become datapackage resources, tables with their inferred column
    /// types (what the browser's upload asks for).
    #[serde(default)]
    pub describe: bool,
}

/// A commit, read: its header, its operations, and the paths of those that are LFS files.
#[derive(Debug)]
pub struct Commit {
    pub header: Header,
    pub ops: Vec<Op>,
    pub lfs_paths: Vec<String>,
}

/// Reads a commit's NDJSON (blank lines are skipped).
pub fn parse(bytes: &[u8]) -> Result<Commit> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::unprocessable("the commit must be UTF-8 NDJSON"))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).enumerate();
    let parse = |(i, line): (usize, &str)| {
        serde_json::from_str::<Line>(line)
            .map_err(|e| Error::unprocessable(format!("line {}: {e}", i + 1)))
    };
    let Some(Line::Header(header)) = lines.next().map(parse).transpose()? else {
        return Err(Error::unprocessable(
            "the first line must be {\"key\": \"header\", …}",
        ));
    };
    let mut ops = Vec::new();
    let mut lfs_paths: Vec<String> = Vec::new();
    for item in lines {
        let at = item.0 + 1;
        let op = match parse(item)? {
            Line::Header(_) => {
                return Err(Error::unprocessable(format!("line {at}: a second header")))
            }
            Line::File {
                path,
                content,
                encoding,
            } => {
                let data = match encoding.as_deref() {
                    None | Some("utf-8") => content.into_bytes(),
                    Some("base64") => base64::engine::general_purpose::STANDARD
                        .decode(content)
                        .map_err(|e| Error::unprocessable(format!("line {at}: {e}")))?,
                    Some(other) => {
                        return Err(Error::unprocessable(format!(
                            "line {at}: unknown encoding {other:?}: use utf-8 or base64"
                        )))
                    }
                };
                Op::Put { path, data }
            }
            Line::LfsFile {
                path,
                oid,
                size,
                algo,
            } => {
                if algo.as_deref().is_some_and(|a| a != "sha256") {
                    return Err(Error::unprocessable(format!(
                        "line {at}: LFS objects are named by sha256"
                    )));
                }
                let oid: Oid = oid
                    .parse()
                    .map_err(|e| Error::unprocessable(format!("line {at}: invalid oid: {e}")))?;
                lfs_paths.push(path.clone());
                let data = Pointer { oid, size }.encode().into_bytes();
                Op::Put { path, data }
            }
            Line::DeletedFile { path } => Op::Delete { path },
        };
        ops.push(op);
        if ops.len() > MAX_OPS {
            return Err(Error::too_large(format!(
                "a commit may hold at most {MAX_OPS} operations"
            )));
        }
    }
    Ok(Commit {
        header,
        ops,
        lfs_paths,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;

    #[test]
    fn a_commit_is_read_and_what_is_not_one_refused() {
        let oid = "a".repeat(64);
        let text = format!(
            "{{\"key\":\"header\",\"value\":{{\"summary\":\"s\",\"parentCommit\":\"abc\"}}}}\n\n\
             {{\"key\":\"file\",\"value\":{{\"path\":\"a.txt\",\"content\":\"aGk=\",\"encoding\":\"base64\"}}}}\n\
             {{\"key\":\"lfsFile\",\"value\":{{\"path\":\"d.csv\",\"oid\":\"{oid}\",\"size\":3}}}}\n\
             {{\"key\":\"deletedFile\",\"value\":{{\"path\":\"old\"}}}}\n"
        );
        let c = parse(text.as_bytes()).unwrap();
        assert_eq!(c.header.parent.as_deref(), Some("abc"));
        assert_eq!(c.ops.len(), 3);
        assert!(matches!(&c.ops[0], Op::Put { data, .. } if data == b"hi"));
        assert_eq!(c.lfs_paths, ["d.csv"]);
        for (bad, kind) in [
            (&b"\xff"[..], Kind::Invalid),
            (b"", Kind::Invalid),
            (b"{\"key\":\"file\",\"value\":{\"path\":\"a\",\"content\":\"\"}}", Kind::Invalid),
            (b"{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}", Kind::Invalid),
            (b"{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n{\"key\":\"lfsFile\",\"value\":{\"path\":\"a\",\"oid\":\"zz\",\"size\":1}}", Kind::Invalid),
            (b"{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n{\"key\":\"file\",\"value\":{\"path\":\"a\",\"content\":\"\",\"encoding\":\"rot13\"}}", Kind::Invalid),
        ] {
            assert_eq!(parse(bad).unwrap_err().kind, kind, "{}", String::from_utf8_lossy(bad));
        }
        let mut many = String::from("{\"key\":\"header\",\"value\":{\"summary\":\"s\"}}\n");
        for i in 0..=MAX_OPS {
            many.push_str(&format!(
                "{{\"key\":\"deletedFile\",\"value\":{{\"path\":\"{i}\"}}}}\n"
            ));
        }
        assert_eq!(parse(many.as_bytes()).unwrap_err().kind, Kind::TooLarge);
    }
}
