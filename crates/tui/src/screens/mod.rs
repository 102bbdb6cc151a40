//! One module per full screen: its state, how it takes keys and answers, and how it draws.

pub mod dashboard;
pub mod help;
pub mod login;
pub mod notifications;
pub mod queues;
pub mod ticket;

/// What a screen's key asks of the whole client, beyond its own state.
pub enum Outcome {
    None,
    /// Open this ticket.
    Open(uuid::Uuid),
    Overlay(crate::overlay::Overlay),
}
