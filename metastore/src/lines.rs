//! Line diffs of text: the unified format's hunks (three lines of context) with each line's
//! number before and after, computed by imara-diff's histogram algorithm (through gix). Text is
//! UTF-8 without NUL bytes; anything else is binary and has no line diff.

use gix::diff::blob::unified_diff::{ConsumeHunk, ContextSize, DiffLineKind, HunkHeader};
use gix::diff::blob::{Algorithm, Diff, InternedInput, UnifiedDiff};

/// How a line of a hunk changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    Context,
    Added,
    Removed,
}

/// A line of a hunk, without its line ending; `old`/`new` are its 1-based numbers on each side.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Line {
    pub kind: LineKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<u32>,
    pub text: String,
}

/// A run of changed lines with their context, as `@@ -old_start,old_lines +new_start,new_lines @@`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Hunk {
    pub old_start: u32,
    pub old_lines: u32,
    pub new_start: u32,
    pub new_lines: u32,
    pub lines: Vec<Line>,
}

/// The line diff of two texts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineDiff {
    /// Lines added and removed in all (hunks cut short included).
    pub added: u32,
    pub removed: u32,
    pub hunks: Vec<Hunk>,
    /// Whether hunks were left out past `max_lines` lines shown.
    pub truncated: bool,
}

/// Whether `bytes` are text a line diff can show: UTF-8 without NUL bytes.
pub fn text(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&0) {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// The line diff of `before` and `after`, showing at most `max_lines` lines of hunks.
pub fn diff(before: &str, after: &str, max_lines: usize) -> LineDiff {
    let input = InternedInput::new(before, after);
    let mut d = Diff::compute(Algorithm::Histogram, &input);
    d.postprocess_lines(&input);
    let (added, removed) = (d.count_additions(), d.count_removals());
    let sink = Hunks {
        hunks: Vec::new(),
        shown: 0,
        max_lines,
        truncated: false,
    };
    let hunks = UnifiedDiff::new(&d, &input, sink, ContextSize::symmetrical(3))
        .consume()
        .unwrap_or_else(|_| (Vec::new(), true));
    LineDiff {
        added,
        removed,
        truncated: hunks.1,
        hunks: hunks.0,
    }
}

struct Hunks {
    hunks: Vec<Hunk>,
    shown: usize,
    max_lines: usize,
    truncated: bool,
}

impl ConsumeHunk for Hunks {
    type Out = (Vec<Hunk>, bool);

    fn consume_hunk(
        &mut self,
        header: HunkHeader,
        lines: &[(DiffLineKind, &[u8])],
    ) -> std::io::Result<()> {
        // Past the bound, hunks are cut short and then left out.
        let room = self.max_lines.saturating_sub(self.shown);
        if room == 0 || self.truncated {
            self.truncated = true;
            return Ok(());
        }
        let lines = if lines.len() > room {
            self.truncated = true;
            &lines[..room]
        } else {
            lines
        };
        self.shown += lines.len();
        let (mut old, mut new) = (header.before_hunk_start, header.after_hunk_start);
        let lines = lines
            .iter()
            .map(|(kind, bytes)| {
                let text = String::from_utf8_lossy(bytes)
                    .trim_end_matches(['\n', '\r'])
                    .to_owned();
                let (kind, o, n) = match kind {
                    DiffLineKind::Context => (LineKind::Context, Some(old), Some(new)),
                    DiffLineKind::Add => (LineKind::Added, None, Some(new)),
                    DiffLineKind::Remove => (LineKind::Removed, Some(old), None),
                };
                if o.is_some() {
                    old += 1;
                }
                if n.is_some() {
                    new += 1;
                }
                Line {
                    kind,
                    old: o,
                    new: n,
                    text,
                }
            })
            .collect();
        self.hunks.push(Hunk {
            old_start: header.before_hunk_start,
            old_lines: header.before_hunk_len,
            new_start: header.after_hunk_start,
            new_lines: header.after_hunk_len,
            lines,
        });
        Ok(())
    }

    fn finish(self) -> Self::Out {
        (self.hunks, self.truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hunks_number_their_lines_on_both_sides() {
        let before = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        let after = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\nk\n";
        let d = diff(before, after, 100);
        assert_eq!((d.added, d.removed), (2, 1));
        assert!(!d.truncated);
        assert_eq!(d.hunks.len(), 1, "{d:?}");
        let h = &d.hunks[0];
        assert_eq!((h.old_start, h.new_start), (2, 2));
        let changed: Vec<_> = h
            .lines
            .iter()
            .filter(|l| l.kind != LineKind::Context)
            .map(|l| (l.kind, l.old, l.new, l.text.as_str()))
            .collect();
        assert_eq!(
            changed,
            vec![
                (LineKind::Removed, Some(5), None, "e"),
                (LineKind::Added, None, Some(5), "E"),
                (LineKind::Added, None, Some(11), "k"),
            ]
        );
    }

    #[test]
    fn the_lines_shown_are_bounded_and_binary_is_not_text() {
        let before: String = (0..1000).map(|i| format!("{i}\n")).collect();
        let after: String = (0..1000).map(|i| format!("{}\n", i * 2)).collect();
        let d = diff(&before, &after, 50);
        assert!(d.truncated);
        assert!(d.hunks.iter().map(|h| h.lines.len()).sum::<usize>() <= 50);
        assert!(d.added > 400 && d.removed > 400);
        assert!(text(b"a\0b").is_none());
        assert!(text(&[0xff, 0xfe]).is_none());
        assert_eq!(text("é\n".as_bytes()), Some("é\n"));
        assert_eq!(diff("same\n", "same\n", 10).hunks, vec![]);
    }
}
