//! Trust: who may sign what for which country, and how nodes recognise each other.
//!
//! Key files live here rather than in `tulpar-core`, which does no I/O.

pub mod keyfile;
