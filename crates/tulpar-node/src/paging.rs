//! Page sizes of the list calls.

/// Default and largest page sizes of list calls.
const DEFAULT_PAGE_SIZE: usize = 50;
const MAX_PAGE_SIZE: usize = 500;

/// The page size a list call asked for, defaulted and capped.
pub(crate) fn page_size(requested: u32) -> usize {
    match requested as usize {
        0 => DEFAULT_PAGE_SIZE,
        n => n.min(MAX_PAGE_SIZE),
    }
}
