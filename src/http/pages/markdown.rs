//! A `README.md` as the dataset's card: CommonMark with tables, strikethrough, footnotes and
//! task lists (pulldown-cmark). Safe by construction, with the page's CSP unchanged: raw HTML
//! in the Markdown is shown as text, never passed through; a link whose URL is not `http(s)`,
//! `mailto` or a path on this site, or an image from anywhere but the dataset, loses its URL
//! and keeps its text. Relative links lead to the
//! dataset's file pages and relative images to its raw route, at the page's revision. Headings
//! move down a level (the page has its own `h1`); a YAML front matter block (as Hugging Face
//! cards start with) is not shown.

use pulldown_cmark::{CowStr, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd};

/// Where relative URLs of a README lead.
pub struct Base<'a> {
    /// `ns/name`.
    pub dataset: &'a str,
    /// The folder the README is in, `""` at the root.
    pub folder: &'a str,
    /// The revision shown, `None` for the default branch.
    pub rev: Option<&'a str>,
}

/// `markdown` as HTML to put in a page as is.
pub fn render(markdown: &str, base: &Base<'_>) -> String {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS;
    // Links and images dropped to their text: their ends are dropped with them.
    let mut dropped: Vec<bool> = Vec::new();
    let mut in_metadata = false;
    let events = Parser::new_ext(markdown, options).filter_map(|event| match event {
        Event::Start(Tag::MetadataBlock(_)) => {
            in_metadata = true;
            None
        }
        Event::End(TagEnd::MetadataBlock(_)) => {
            in_metadata = false;
            None
        }
        _ if in_metadata => None,
        Event::Html(html) | Event::InlineHtml(html) => Some(Event::Text(html)),
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Some(Event::Start(Tag::Heading {
            level: lower(level),
            id,
            classes,
            attrs,
        })),
        Event::End(TagEnd::Heading(level)) => Some(Event::End(TagEnd::Heading(lower(level)))),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            // An email autolink's URL is the address; the writer adds `mailto:`.
            let url = match link_type {
                LinkType::Email => Some(dest_url.to_string()),
                _ => resolve(&dest_url, base, false),
            };
            dropped.push(url.is_none());
            url.map(|url| {
                Event::Start(Tag::Link {
                    link_type,
                    dest_url: url.into(),
                    title,
                    id,
                })
            })
        }
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let url = resolve(&dest_url, base, true);
            dropped.push(url.is_none());
            url.map(|url| {
                Event::Start(Tag::Image {
                    link_type,
                    dest_url: url.into(),
                    title,
                    id,
                })
            })
        }
        Event::End(end @ (TagEnd::Link | TagEnd::Image)) => {
            (!dropped.pop().unwrap_or(false)).then_some(Event::End(end))
        }
        other => Some(other),
    });
    let mut html = String::with_capacity(markdown.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

fn lower(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H2,
        HeadingLevel::H2 => HeadingLevel::H3,
        HeadingLevel::H3 => HeadingLevel::H4,
        HeadingLevel::H4 => HeadingLevel::H5,
        HeadingLevel::H5 | HeadingLevel::H6 => HeadingLevel::H6,
    }
}

/// Where a README's URL leads, or `None` for one it may not hold (`javascript:`, `data:`, …).
fn resolve(url: &CowStr<'_>, base: &Base<'_>, image: bool) -> Option<String> {
    let url = url.trim();
    // Browsers drop tabs and newlines inside URLs: `java\tscript:` is `javascript:`.
    let scheme_end = url.find([':', '/', '?', '#']);
    if let Some(i) = scheme_end.filter(|&i| url[i..].starts_with(':')) {
        let scheme: String = url[..i]
            .chars()
            .filter(|c| !c.is_ascii_whitespace() && !c.is_ascii_control())
            .collect::<String>()
            .to_ascii_lowercase();
        // Images from elsewhere would not load under the page's CSP: their alt text stays.
        let allowed: &[&str] = if image {
            &[]
        } else {
            &["http", "https", "mailto"]
        };
        return allowed.contains(&scheme.as_str()).then(|| url.to_owned());
    }
    if url.chars().any(|c| c.is_ascii_control()) {
        return None;
    }
    // `//host` and `/\\host` lead to another site while looking like this one's.
    if url.starts_with("//") || url.starts_with("/\\") {
        return None;
    }
    if url.starts_with('#') || url.starts_with('/') || url.is_empty() {
        return Some(url.to_owned());
    }
    // A path relative to the README's folder, and what follows it.
    let cut = url.find(['?', '#']).unwrap_or(url.len());
    let (path, rest) = url.split_at(cut);
    let fragment = rest.find('#').map(|i| &rest[i..]).unwrap_or("");
    let mut parts: Vec<String> = base
        .folder
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    for part in path.split('/') {
        let part = percent_encoding::percent_decode_str(part)
            .decode_utf8()
            .ok()?;
        match &*part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part.into_owned()),
        }
    }
    let joined = parts.join("/");
    let encoded: String = form_urlencoded_path(&joined);
    let rev = base
        .rev
        .map(|r| format!("?rev={}", form_urlencoded_path(r)))
        .unwrap_or_default();
    let dataset = base.dataset;
    Some(if image {
        format!("/api/v1/datasets/{dataset}/raw/{encoded}{rev}")
    } else if path.ends_with('/') || joined.is_empty() {
        let sep = if rev.is_empty() { '?' } else { '&' };
        format!("/datasets/{dataset}{rev}{sep}path={encoded}{fragment}")
    } else {
        format!("/datasets/{dataset}/files/{encoded}{rev}{fragment}")
    })
}

/// A path's characters escaped for a URL, its `/` kept.
fn form_urlencoded_path(path: &str) -> String {
    path.split('/')
        .map(|p| percent_encoding::utf8_percent_encode(p, PATH).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// What a path segment escapes.
const PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;

    fn html(md: &str) -> String {
        render(
            md,
            &Base {
                dataset: "ann/survey",
                folder: "docs",
                rev: None,
            },
        )
    }

    #[test]
    fn raw_html_is_text_and_headings_move_down() {
        let out =
            html("# Survey\n\n<script>alert(1)</script>\n\nHi <img src=x onerror=alert(1)>\n");
        assert!(out.contains("<h2>Survey</h2>"), "{out}");
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("<img"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
    }

    #[test]
    fn unsafe_urls_keep_their_text_only() {
        for url in [
            "javascript:alert(1)",
            "JaVa\tScRiPt:alert(1)",
            "data:text/html,x",
            "vbscript:x",
        ] {
            let out = html(&format!("[click]({url}) ![pic]({url})"));
            assert!(!out.contains("href"), "{url}: {out}");
            assert!(!out.contains("<img"), "{url}: {out}");
            assert!(out.contains("click"), "{out}");
        }
        let out = html("[site](https://example.org/a) [mail](mailto:a@b.c) <ann@example.org>");
        assert!(out.contains("href=\"https://example.org/a\""), "{out}");
        assert!(out.contains("href=\"mailto:a@b.c\""), "{out}");
        assert!(out.contains("href=\"mailto:ann@example.org\""), "{out}");
        for url in ["//evil.example/x", "/\\evil.example/x"] {
            let out = html(&format!("[x]({url}) ![y]({url})"));
            assert!(!out.contains("evil"), "{url}: {out}");
        }
        let out = html("![far](https://example.org/p.png)");
        assert!(!out.contains("<img") && out.contains("far"), "{out}");
    }

    #[test]
    fn relative_urls_lead_to_the_dataset() {
        let out = html("[a](../data/a%20b.csv#x) ![p](img/p.png) [up](../) [top](#top)");
        assert!(
            out.contains("href=\"/datasets/ann/survey/files/data/a%20b.csv#x\""),
            "{out}"
        );
        assert!(
            out.contains("src=\"/api/v1/datasets/ann/survey/raw/docs/img/p.png\""),
            "{out}"
        );
        assert!(out.contains("href=\"/datasets/ann/survey?path=\""), "{out}");
        assert!(out.contains("href=\"#top\""), "{out}");
    }

    #[test]
    fn front_matter_is_not_shown() {
        let out = html("---\nlicense: mit\n---\n\nBody\n");
        assert!(!out.contains("license"), "{out}");
        assert!(out.contains("Body"), "{out}");
    }
}
