//! Identifiers and codes of the customs domain, each a type that can only hold a valid value.
