//! HTTP plumbing shared by every domain: extractors, permissions, pagination, operational routes
//! and the middleware stack.

pub mod connections;
pub mod deadline;
pub mod extract;
pub mod limits;
pub mod min_rate;
pub mod observability;
pub mod openapi;
pub mod ops;
pub mod pagination;
pub mod permissions;
