//! The communication domain: notifications now; live chat, presence and SMS come with it.

pub mod notifications;
