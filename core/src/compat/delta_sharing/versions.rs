//! A shared table's versions: the revisions of its ref that changed the table's file (its LFS
//! pointer), oldest first, numbered from 0 as Delta numbers commits, each with a commit time in
//! milliseconds made strictly increasing (git's times are the committer's to set, and two
//! commits may share a second: a time not after the one before becomes it plus 1 ms, as Delta
//! does). The numbers follow the ref's history as it stands: a force-push that rewrites it
//! renumbers what it rewrote. And how a request's `version`, `timestamp`, `startingVersion`,
//! `startingTimestamp` and `endingTimestamp` resolve to them.

use strata_metastore::DEFAULT_BRANCH;
use time::format_description::well_known::Rfc3339;

use crate::datasets::gate::Gated;
use crate::datasets::git_on;
use crate::db::DeltaTable;
use crate::error::{Error, Result};
use crate::Core;

/// Versions a table has at most (the newest): older revisions are not shared.
pub const MOST: usize = 10_000;

/// One version of a shared table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub number: i64,
    /// The revision (commit id) it is at.
    pub rev: String,
    /// Milliseconds since the epoch.
    pub at: i64,
}

/// The versions of `table` (its file at `path` in `gated`), oldest first; none when its ref or
/// its file is gone.
pub async fn of(
    core: &Core,
    gated: &Gated,
    table: &DeltaTable,
    path: &str,
) -> Result<Vec<Version>> {
    let at = table
        .at_ref
        .clone()
        .unwrap_or_else(|| DEFAULT_BRANCH.to_owned());
    let path = path.to_owned();
    let revs = git_on(core, gated, move |ms, ds| {
        match ms.revisions(ds, Some(&at), None, MOST, Some(&path)) {
            Ok((revs, _)) => Ok(revs),
            Err(strata_metastore::Error::NotFound(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    })
    .await?;
    let mut out: Vec<Version> = Vec::with_capacity(revs.len());
    for (number, r) in revs.into_iter().rev().enumerate() {
        let mut at = r.time.saturating_mul(1000);
        if let Some(last) = out.last() {
            at = at.max(last.at + 1);
        }
        out.push(Version {
            number: number as i64,
            rev: r.id,
            at,
        });
    }
    Ok(out)
}

fn invalid(message: impl Into<String>) -> Error {
    Error::bad_request(message)
}

/// A timestamp as the protocol writes it (RFC 3339, e.g. `2026-01-01T00:00:00Z`), in ms.
pub fn parse_time(what: &str, t: &str) -> Result<i64> {
    let parsed = time::OffsetDateTime::parse(t, &Rfc3339).map_err(|_| {
        invalid(format!(
            "{what} {t:?} is not an ISO 8601 time in UTC, such as 2026-01-01T00:00:00Z"
        ))
    })?;
    Ok((parsed.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// The versions a recipient may read: from the share's start on.
pub struct Readable<'v> {
    pub all: &'v [Version],
    pub start: i64,
}

impl<'v> Readable<'v> {
    pub fn latest(&self) -> Result<&'v Version> {
        self.all
            .last()
            .filter(|v| v.number >= self.start)
            .ok_or_else(|| Error::not_found("the table has no version to read yet"))
    }

    /// Version `n`, if it is shared.
    pub fn number(&self, n: i64) -> Result<&'v Version> {
        if n < 0 {
            return Err(invalid(format!("version {n} is negative")));
        }
        if n < self.start {
            return Err(invalid(format!(
                "You can only query table data since version {}",
                self.start
            )));
        }
        self.all.get(n as usize).ok_or_else(|| {
            invalid(format!(
                "version {n} does not exist: the latest is {}",
                self.all.len() as i64 - 1
            ))
        })
    }

    /// The version a reader of the table as of `t` reads: the latest committed at or before it
    /// (within its second: git keeps commit times to the second).
    pub fn as_of(&self, t: &str) -> Result<&'v Version> {
        let ms = parse_time("timestamp", t)?;
        let latest = self.latest()?;
        if ms > latest.at + 999 {
            return Err(invalid(format!(
                "the timestamp {t} is after the latest version ({})",
                latest.number
            )));
        }
        let found = self.all.iter().rev().find(|v| v.at <= ms + 999);
        match found {
            Some(v) if v.number >= self.start => Ok(v),
            _ => Err(invalid(format!(
                "the timestamp {t} is before the first version shared ({})",
                self.start
            ))),
        }
    }

    /// The first version committed at or after `t` (a time before the first: the first).
    pub fn starting_at(&self, t: &str) -> Result<&'v Version> {
        let ms = parse_time("startingTimestamp", t)?;
        self.all
            .iter()
            .filter(|v| v.number >= self.start)
            .find(|v| v.at >= ms)
            .ok_or_else(|| {
                invalid(format!(
                    "the startingTimestamp {t} is after the latest version"
                ))
            })
    }

    /// The last version committed at or before `t`.
    pub fn ending_at(&self, t: &str) -> Result<&'v Version> {
        let ms = parse_time("endingTimestamp", t)?;
        self.all
            .iter()
            .rev()
            .filter(|v| v.number >= self.start)
            .find(|v| v.at <= ms + 999)
            .ok_or_else(|| {
                invalid(format!(
                    "the endingTimestamp {t} is before the first version shared"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions() -> Vec<Version> {
        [1_000, 1_000, 5_000]
            .iter()
            .enumerate()
            .map(|(i, at)| Version {
                number: i as i64,
                rev: format!("r{i}"),
                at: at + i as i64,
            })
            .collect()
    }

    #[test]
    fn times_resolve_to_versions() {
        let all = versions();
        let r = Readable {
            all: &all,
            start: 0,
        };
        assert_eq!(r.latest().unwrap().number, 2);
        assert_eq!(r.as_of("1970-01-01T00:00:01Z").unwrap().number, 1);
        assert_eq!(r.as_of("1970-01-01T00:00:04Z").unwrap().number, 1);
        assert_eq!(r.as_of("1970-01-01T00:00:05Z").unwrap().number, 2);
        assert!(r.as_of("1970-01-01T00:00:00Z").is_err());
        assert!(r.as_of("1970-01-01T00:01:00Z").is_err());
        assert!(r.as_of("yesterday").is_err());
        assert_eq!(r.starting_at("1960-01-01T00:00:00Z").unwrap().number, 0);
        assert_eq!(r.starting_at("1970-01-01T00:00:02Z").unwrap().number, 2);
        assert_eq!(r.ending_at("1970-01-01T00:00:02Z").unwrap().number, 1);
        assert!(r.number(-1).is_err() && r.number(3).is_err());
        let later = Readable {
            all: &all,
            start: 1,
        };
        assert!(later.number(0).is_err());
        assert_eq!(later.starting_at("1960-01-01T00:00:00Z").unwrap().number, 1);
    }
}
