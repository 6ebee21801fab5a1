//! Comments of the `.proto` files, read from the source info protox keeps, for the OpenAPI document.

use prost_reflect::FileDescriptor;

/// The comment before the element at `path` of `file` (or after it, when there is none before), with
/// the one space after each `//` removed and trailing blank lines trimmed; empty when there is none.
pub(crate) fn of(file: &FileDescriptor, path: &[i32]) -> String {
    let Some(info) = &file.file_descriptor_proto().source_code_info else {
        return String::new();
    };
    let Some(location) = info.location.iter().find(|l| l.path == path) else {
        return String::new();
    };
    let raw = location
        .leading_comments
        .as_deref()
        .or(location.trailing_comments.as_deref())
        .unwrap_or_default();
    raw.lines()
        .map(|line| line.strip_prefix(' ').unwrap_or(line).trim_end())
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_owned()
}

/// The first sentence of a comment, on one line: a short summary.
pub(crate) fn first_sentence(comment: &str) -> String {
    let flat = comment.split_whitespace().collect::<Vec<_>>().join(" ");
    let end = flat.match_indices(". ").map(|(i, _)| i).find(|&i| {
        let before = &flat[..i];
        !before.ends_with("e.g") && !before.ends_with("i.e")
    });
    match end {
        Some(end) => flat[..=end].to_owned(),
        None => flat,
    }
}
