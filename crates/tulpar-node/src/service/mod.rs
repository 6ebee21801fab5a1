//! The gRPC services: one module per service, each a thin layer over the components of [`crate::node::Node`].

pub(crate) mod admin;
pub(crate) mod alerts;
pub(crate) mod audit;
pub(crate) mod federation;
pub(crate) mod guard;
