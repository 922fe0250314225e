//! Refs: the one compare-and-swap every ref update goes through, resolving what a caller names
//! (branch, tag or commit id) to a commit, and annotated tags and branches.

use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::Target;
use gix::ObjectId;

use crate::error::{Error, Result};
use crate::{now, DatasetId, Metastore, Person, DEFAULT_BRANCH};

/// An annotated tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    /// The commit it names.
    pub revision: String,
    pub tagger: Option<Person>,
    /// Unix seconds.
    pub created: i64,
    /// The tag message; empty when there is none.
    pub description: String,
}

/// How often a compare-and-swap retries while another process holds the ref's lock file.
const LOCK_RETRIES: usize = 40;

/// Branch and tag names: what git allows, minus what makes URLs and shells awkward.
pub(crate) fn check_ref_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && !name.starts_with(['-', '.', '/'])
        && !name.ends_with(['.', '/'])
        && !name.ends_with(".lock")
        && !name.contains("..")
        && !name.contains("//")
        && !name.contains("@{")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{name:?} is not a valid {kind} name: use letters, digits and - _ . / +"
        )))
    }
}

impl Metastore {
    /// Moves ref `name` (a full name, `refs/…`) from `old` to `new`, or fails with a conflict when it
    /// is not at `old`. `None` as `old`: the ref must not exist; as `new`: delete it. This is the
    /// one place where refs change.
    pub fn swap_ref(
        &self,
        repo: &gix::Repository,
        name: &str,
        old: Option<ObjectId>,
        new: Option<ObjectId>,
        message: &str,
    ) -> Result<()> {
        if let (Some(ledger), Some(key)) = (&self.ledger, self.ledger_key(repo)) {
            let _: gix::refs::FullName = name
                .try_into()
                .map_err(|_| Error::Invalid(format!("{name:?} is not a valid ref name")))?;
            // The ledger decides (refusing a ref nested in another, as the files would); the files follow (a cache every read brings up to date). Once
            // the ledger moved, the write happened: a file that cannot follow now is synced later.
            ledger.swap(&key, name, old, new)?;
            let _ = crate::ledger::write_file_ref(repo, name, old, new, message);
            return Ok(());
        }
        let change = ref_change(old, new, message);
        let full: gix::refs::FullName = name
            .try_into()
            .map_err(|_| Error::Invalid(format!("{name:?} is not a valid ref name")))?;
        // gix lets "must not exist" pass when the ref exists with the very value being written.
        if old.is_none() && current(repo, name)?.is_some() {
            return Err(Error::Conflict(format!("{} exists already", short(name))));
        }
        for _ in 0..LOCK_RETRIES {
            let edit = RefEdit {
                change: change.clone(),
                name: full.clone(),
                deref: false,
            };
            match repo.edit_reference(edit) {
                Ok(_) => {
                    if let (Some(l), Some(key)) = (&self.listener, self.dataset_key(repo)) {
                        l.moved(&key, name, old, new);
                    }
                    return Ok(());
                }
                Err(e) => {
                    if current(repo, name)? != old {
                        return Err(Error::Conflict(format!(
                            "{} moved while this write was prepared",
                            short(name)
                        )));
                    }
                    // Still where we expected it: another process holds its lock. Wait a little.
                    if !repo.path().join(format!("{name}.lock")).exists() {
                        return Err(e.into());
                    }
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
            }
        }
        Err(Error::Conflict(format!(
            "{} is locked by another writer",
            short(name)
        )))
    }

    /// Creates annotated tag `name` on `rev`; a tag of that name is a conflict.
    pub fn create_tag(
        &self,
        ds: DatasetId<'_>,
        name: &str,
        rev: &str,
        tagger: &Person,
        description: &str,
    ) -> Result<Tag> {
        check_ref_name("tag", name)?;
        let repo = self.open(ds)?;
        let target = resolve(&repo, Some(rev))?;
        let full = format!("refs/tags/{name}");
        if current(&repo, &full)?.is_some() {
            return Err(Error::Conflict(format!("tag {name} exists already")));
        }
        let id = write_tag(&repo, name, target, tagger, description)?;
        self.swap_ref(&repo, &full, None, Some(id), "tag: create")
            .map_err(|e| match e {
                Error::Conflict(_) => Error::Conflict(format!("tag {name} exists already")),
                e => e,
            })?;
        read_tag(&repo, name)
    }

    pub fn tags(&self, ds: DatasetId<'_>) -> Result<Vec<Tag>> {
        let repo = self.open(ds)?;
        let names: Vec<String> = repo
            .references()?
            .tags()?
            .filter_map(|r| r.ok())
            .map(|r| r.name().shorten().to_string())
            .collect();
        let mut tags = Vec::with_capacity(names.len());
        for n in &names {
            match read_tag(&repo, n) {
                Ok(tag) => tags.push(tag),
                // Not a revision's tag: not listed, so it never breaks the list.
                Err(Error::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        tags.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
        Ok(tags)
    }

    pub fn tag(&self, ds: DatasetId<'_>, name: &str) -> Result<Tag> {
        check_ref_name("tag", name)?;
        read_tag(&self.open(ds)?, name)
    }

    /// Changes a tag's description (`Some("")` clears it) and/or renames it. The tag keeps
    /// pointing at the same revision, and keeps its tagger and creation time.
    pub fn update_tag(
        &self,
        ds: DatasetId<'_>,
        name: &str,
        description: Option<&str>,
        new_name: Option<&str>,
    ) -> Result<Tag> {
        check_ref_name("tag", name)?;
        let repo = self.open(ds)?;
        let old_ref = format!("refs/tags/{name}");
        let old_id = current(&repo, &old_ref)?
            .ok_or_else(|| Error::NotFound(format!("tag {name} not found")))?;
        let tag = read_tag(&repo, name)?;
        let target = ObjectId::from_hex(tag.revision.as_bytes()).map_err(Error::git)?;
        let new_name = new_name.unwrap_or(name);
        check_ref_name("tag", new_name)?;
        let description = description.unwrap_or(&tag.description);
        let tagger = tag.tagger.unwrap_or_else(|| self.committer.clone());
        let id = write_tag_at(&repo, new_name, target, &tagger, tag.created, description)?;
        if new_name == name {
            self.swap_ref(&repo, &old_ref, Some(old_id), Some(id), "tag: update")?;
        } else {
            let new_ref = format!("refs/tags/{new_name}");
            self.swap_ref(&repo, &new_ref, None, Some(id), "tag: rename")
                .map_err(|e| match e {
                    Error::Conflict(_) => Error::Conflict(format!("tag {new_name} exists already")),
                    e => e,
                })?;
            if let Err(e) = self.swap_ref(&repo, &old_ref, Some(old_id), None, "tag: rename") {
                // Undo the new name, so that a failed rename leaves exactly the old tag.
                let _ = self.swap_ref(&repo, &new_ref, Some(id), None, "tag: rename undone");
                return Err(e);
            }
        }
        read_tag(&repo, new_name)
    }

    pub fn delete_tag(&self, ds: DatasetId<'_>, name: &str) -> Result<()> {
        check_ref_name("tag", name)?;
        let repo = self.open(ds)?;
        let full = format!("refs/tags/{name}");
        let id = current(&repo, &full)?
            .ok_or_else(|| Error::NotFound(format!("tag {name} not found")))?;
        self.swap_ref(&repo, &full, Some(id), None, "tag: delete")
    }

    /// Creates branch `name` at `rev`.
    pub fn create_branch(&self, ds: DatasetId<'_>, name: &str, rev: &str) -> Result<String> {
        check_ref_name("branch", name)?;
        let repo = self.open(ds)?;
        let target = resolve(&repo, Some(rev))?;
        self.swap_ref(
            &repo,
            &format!("refs/heads/{name}"),
            None,
            Some(target),
            "branch: create",
        )
        .map_err(|e| match e {
            Error::Conflict(_) => Error::Conflict(format!("branch {name} exists already")),
            e => e,
        })?;
        Ok(target.to_string())
    }

    /// Branches with the revision each points at, the default branch first.
    pub fn branches(&self, ds: DatasetId<'_>) -> Result<Vec<(String, String)>> {
        let repo = self.open(ds)?;
        let mut out: Vec<(String, String)> = repo
            .references()?
            .local_branches()?
            .filter_map(|r| r.ok())
            .filter_map(|r| {
                let id = r.target().try_id()?.to_owned();
                Some((r.name().shorten().to_string(), id.to_string()))
            })
            .collect();
        out.sort_by(|a, b| (a.0 != DEFAULT_BRANCH, &a.0).cmp(&(b.0 != DEFAULT_BRANCH, &b.0)));
        Ok(out)
    }

    pub fn delete_branch(&self, ds: DatasetId<'_>, name: &str) -> Result<()> {
        if name == DEFAULT_BRANCH {
            return Err(Error::Invalid(format!(
                "the default branch {DEFAULT_BRANCH} cannot be deleted"
            )));
        }
        check_ref_name("branch", name)?;
        let repo = self.open(ds)?;
        let full = format!("refs/heads/{name}");
        let id = current(&repo, &full)?
            .ok_or_else(|| Error::NotFound(format!("branch {name} not found")))?;
        self.swap_ref(&repo, &full, Some(id), None, "branch: delete")
    }
}

/// Where ref `name` points now (not peeled), or `None` when it does not exist.
/// The change moving a ref from `old` (`None`: absent) to `new` (`None`: delete it), with a
/// reflog entry saying `message`.
pub(crate) fn ref_change(old: Option<ObjectId>, new: Option<ObjectId>, message: &str) -> Change {
    let expected = match old {
        Some(id) => PreviousValue::MustExistAndMatch(Target::Object(id)),
        None => PreviousValue::MustNotExist,
    };
    match new {
        Some(id) => Change::Update {
            log: LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: message.into(),
            },
            expected,
            new: Target::Object(id),
        },
        None => Change::Delete {
            expected,
            log: RefLog::AndReference,
        },
    }
}

pub(crate) fn current(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>> {
    Ok(repo
        .try_find_reference(name)?
        .and_then(|r| r.target().try_id().map(|id| id.to_owned())))
}

/// The commit a caller means: the default branch's head for `None`, else a full commit id, a
/// branch, a tag, or an abbreviated commit id (at least 7 hex digits). A full id wins over a
/// branch or tag of the same name, as in git: a commit id resolved once and passed on always
/// means that commit, whatever anyone names a branch.
pub(crate) fn resolve(repo: &gix::Repository, rev: Option<&str>) -> Result<ObjectId> {
    let rev = rev.unwrap_or(DEFAULT_BRANCH);
    if rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        if let Ok(id) = ObjectId::from_hex(rev.to_ascii_lowercase().as_bytes()) {
            let commit = repo
                .find_object(id)
                .ok()
                .and_then(|o| o.peel_to_commit().ok());
            if let Some(commit) = commit {
                return Ok(commit.id);
            }
        }
    }
    for prefix in ["refs/heads/", "refs/tags/"] {
        let name = format!("{prefix}{rev}");
        if check_ref_name("ref", rev).is_err() {
            break;
        }
        if let Some(mut r) = repo.try_find_reference(name.as_str())? {
            return Ok(r.peel_to_commit()?.id);
        }
    }
    let hex = rev.len() >= 7 && rev.len() <= 40 && rev.bytes().all(|b| b.is_ascii_hexdigit());
    if hex {
        if let Ok(id) = repo.rev_parse_single(rev) {
            if let Ok(commit) = id.object().and_then(|o| o.peel_to_commit()) {
                return Ok(commit.id);
            }
        }
    }
    if rev == DEFAULT_BRANCH {
        return Err(Error::NotFound("the dataset has no revisions yet".into()));
    }
    Err(Error::NotFound(format!("revision {rev:?} not found")))
}

fn short(name: &str) -> &str {
    name.strip_prefix("refs/heads/")
        .or_else(|| name.strip_prefix("refs/tags/"))
        .unwrap_or(name)
}

fn write_tag(
    repo: &gix::Repository,
    name: &str,
    target: ObjectId,
    tagger: &Person,
    description: &str,
) -> Result<ObjectId> {
    write_tag_at(repo, name, target, tagger, now(), description)
}

fn write_tag_at(
    repo: &gix::Repository,
    name: &str,
    target: ObjectId,
    tagger: &Person,
    time: i64,
    description: &str,
) -> Result<ObjectId> {
    let tag = gix::objs::Tag {
        target,
        target_kind: gix::objs::Kind::Commit,
        name: name.into(),
        tagger: Some(tagger.signature(time)),
        message: description.into(),
        signature: None,
    };
    Ok(repo.write_object(&tag)?.detach())
}

fn read_tag(repo: &gix::Repository, name: &str) -> Result<Tag> {
    let mut r = repo
        .try_find_reference(format!("refs/tags/{name}").as_str())?
        .ok_or_else(|| Error::NotFound(format!("tag {name} not found")))?;
    // A tag of a tree or blob (older pushes could make one) names no revision.
    let revision = r
        .peel_to_commit()
        .map_err(|_| Error::NotFound(format!("tag {name} does not point at a revision")))?
        .id
        .to_string();
    let id = r
        .target()
        .try_id()
        .map(|id| id.to_owned())
        .ok_or_else(|| Error::git("symbolic tag ref"))?;
    let object = repo.find_object(id)?;
    if object.kind != gix::objs::Kind::Tag {
        // A lightweight tag (pushed with git): no tagger, no description.
        return Ok(Tag {
            name: name.to_owned(),
            revision,
            tagger: None,
            created: 0,
            description: String::new(),
        });
    }
    let tag = object.into_tag();
    let decoded = tag.decode()?;
    let tagger = decoded.tagger()?;
    Ok(Tag {
        name: name.to_owned(),
        revision,
        tagger: tagger.map(|t| Person {
            name: t.name.to_string(),
            email: t.email.to_string(),
        }),
        created: tagger.and_then(|t| t.time().ok()).map_or(0, |t| t.seconds),
        description: decoded.message.to_string(),
    })
}
