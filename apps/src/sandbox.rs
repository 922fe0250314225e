//! The process runner's sandbox: the kernel's Landlock, applied to an instance between fork and
//! exec, so that it can neither read nor write what it is denied (strata's data directory: keys,
//! database, repositories, objects, other instances' working directories and tokens) while the
//! rest of the filesystem stays as the OS user's rights allow.
//!
//! Landlock only allows, so a denial is the complement: every directory on the way from `/` to a
//! denied path is left out, and each of its other entries is allowed with every right (the
//! entries that exist when the instance starts; a symlink is followed and left out too when it
//! leads into or above a denied path). Beneath a denied directory, the instance's own working
//! directory is allowed again with every right, and its token's directory (a job's inputs) for
//! reading. The instance also cannot signal processes outside its sandbox (strata among them) or reach their
//! memory and files through `/proc` (Landlock's ptrace rule).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreated, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};

/// The oldest Landlock the sandbox accepts: ABI 3 (Linux 6.2) is the first that governs
/// truncation, without which a denied file could still be emptied.
const MIN_ABI: ABI = ABI::V3;

/// What one instance may and may not reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    /// Directories and files it may neither read nor write, with everything beneath them.
    pub deny: Vec<PathBuf>,
    /// Where it may do anything, even beneath a denied directory (its working directory).
    pub read_write: Vec<PathBuf>,
    /// Where it may only read files and list folders, even beneath a denied directory (an app's
    /// token directory, a job's inputs).
    pub read_only: Vec<PathBuf>,
}

/// Whether this kernel can sandbox process instances; why not, if it cannot.
pub fn check() -> Result<(), String> {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(MIN_ABI))
        .and_then(|r| r.create())
        .map(drop)
        .map_err(|e| unsupported(&e))
}

fn unsupported(e: &dyn std::fmt::Display) -> String {
    format!(
        "this kernel cannot sandbox process apps ({e}): they need Landlock ABI 3 or later \
         (Linux 6.2+, with landlock among the LSMs it boots with); start strata with \
         --apps-process-sandbox off to run them unsandboxed, as strata's own user"
    )
}

/// A path as the kernel sees it: symlinks resolved, or for a path that does not exist (yet), its
/// parent's resolved and its name appended.
fn real(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let parent = path.parent()?.canonicalize().ok()?;
    Some(parent.join(path.file_name()?))
}

/// Whether `a` is `b` or lies beneath it (by components).
fn within(a: &Path, b: &Path) -> bool {
    a.starts_with(b)
}

/// Every right, or every right a file can carry (the kernel refuses directory rights on a file).
fn rights(abi: ABI, path: &Path) -> BitFlags<AccessFs> {
    if path.is_dir() {
        AccessFs::from_all(abi)
    } else {
        AccessFs::from_file(abi)
    }
}

/// One rule: `path` and what may be done beneath it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub path: PathBuf,
    /// Every right (else: reading files only).
    pub write: bool,
}

impl Sandbox {
    /// The rules that carry out this sandbox on the filesystem as it is now; an error when an
    /// allowed path holds a denied one (it cannot be allowed without it).
    pub fn rules(&self) -> Result<Vec<Rule>, String> {
        let deny: Vec<PathBuf> = self.deny.iter().filter_map(|p| real(p)).collect();
        let mut above = BTreeSet::new();
        for d in &deny {
            for a in d.ancestors().skip(1) {
                above.insert(a.to_path_buf());
            }
        }
        let touches_denied = |p: &Path| deny.iter().any(|d| within(p, d) || within(d, p));
        let mut rules = Vec::new();
        for dir in &above {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = dir.join(entry.file_name());
                if above.contains(&path) || deny.contains(&path) {
                    continue;
                }
                // Followed, as the kernel will: a way into (or above) a denied path stays shut.
                let Ok(target) = path.canonicalize() else {
                    continue;
                };
                if touches_denied(&target) {
                    continue;
                }
                rules.push(Rule {
                    path: target,
                    write: true,
                });
            }
        }
        for (paths, write) in [(&self.read_write, true), (&self.read_only, false)] {
            for p in paths {
                let r = p
                    .canonicalize()
                    .map_err(|e| format!("the sandbox cannot allow {}: {e}", p.display()))?;
                if deny.iter().any(|d| within(d, &r)) {
                    return Err(format!(
                        "{} holds what an app may not reach ({}): it cannot be an app's directory",
                        r.display(),
                        deny.iter().find(|d| within(d, &r)).unwrap().display()
                    ));
                }
                rules.push(Rule { path: r, write });
            }
        }
        Ok(rules)
    }

    /// The Landlock ruleset of this sandbox, made in the parent; the child takes it on with
    /// [`enforce`] between fork and exec.
    pub fn ruleset(&self) -> Result<RulesetCreated, String> {
        let abi = MIN_ABI;
        let all = ABI::V6;
        let mut ruleset = Ruleset::default()
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(abi))
            .map_err(|e| unsupported(&e))?
            // Newer rights and scopes where the kernel has them (device ioctls, signals to
            // processes outside the sandbox, abstract unix sockets).
            .set_compatibility(CompatLevel::BestEffort)
            .handle_access(AccessFs::from_all(all))
            .and_then(|r| r.scope(Scope::from_all(all)))
            .and_then(|r| r.create())
            .map_err(|e| unsupported(&e))?;
        for rule in self.rules()? {
            let access = if rule.write {
                rights(all, &rule.path)
            } else {
                AccessFs::ReadFile | AccessFs::ReadDir
            };
            let fd = match PathFd::new(&rule.path) {
                Ok(fd) => fd,
                // Gone since it was listed: nothing to allow.
                Err(_) => continue,
            };
            ruleset = ruleset
                .add_rule(PathBeneath::new(fd, access))
                .map_err(|e| format!("the sandbox's rule for {}: {e}", rule.path.display()))?;
        }
        Ok(ruleset)
    }
}

/// Takes on `ruleset` (in the child, between fork and exec): no new privileges, and Landlock's
/// restrictions from then on, for it and everything it starts.
pub fn enforce(ruleset: RulesetCreated) -> std::io::Result<()> {
    let status = ruleset
        .restrict_self()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(std::io::Error::other(
            "Landlock did not enforce the sandbox",
        ));
    }
    Ok(())
}
