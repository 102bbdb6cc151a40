//! One module per full screen: its state, how it takes keys and answers, and how it draws.

pub mod help;
pub mod login;
pub mod notifications;
pub mod queues;
pub mod ticket;
