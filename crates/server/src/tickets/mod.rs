//! The tickets domain: lifecycle, conversation, sub-tickets, approvals, SLA, queues, search.

pub mod actions;
pub mod api;
pub mod approvals;
pub mod assignment;
pub mod bulk;
pub mod calendar;
pub mod comments;
pub mod crud;
pub mod lifecycle;
pub mod links;
pub mod merge;
pub mod ratings;
pub mod metrics;
pub mod notices;
pub mod placeholders;
pub mod replies;
pub mod reports;
pub mod search;
pub mod sla;
pub mod sla_job;
pub mod store;
pub mod transitions;
pub mod views;
pub mod visibility;
pub mod watchers;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(crud::router())
        .merge(assignment::router())
        .merge(comments::router())
        .merge(transitions::router())
        .merge(approvals::router())
        .merge(sla::router())
        .merge(merge::router())
        .merge(links::router())
        .merge(bulk::router())
        .merge(replies::router())
        .merge(views::router())
        .merge(metrics::router())
        .merge(watchers::router())
        .merge(ratings::router())
        .merge(reports::router())
}
