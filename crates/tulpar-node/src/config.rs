//! The node's configuration, from [`tulpar_config`] (shared with the CLI), and what only the node does
//! with it: fitting its connection limits under the process's limit on open files.

pub use tulpar_config::*;

mod descriptors;

pub use descriptors::{DescriptorLimit, DescriptorLimitError};
