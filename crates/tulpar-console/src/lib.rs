//! The console's pages for people: HTML views ([`pages`]), the words of every language ([`catalogs`])
//! and the static files pages load ([`assets`]).
//!
//! **Architecture invariant:** this crate holds no rule and does no I/O. The node decides who may see
//! and do what, and hands the views what to show; a view only lays it out in the viewer's language.

pub mod assets;
pub mod catalogs;
pub mod excel;
pub mod pages;

pub use catalogs::{Catalogs, Messages};
