//! Agent tools: merging and linking tickets, watchers, bulk updates, canned replies, macros,
//! saved views.

use reqwest::Method;
use uuid::Uuid;

use super::{Client, Result};
use crate::tickets::{
    ApplyMacro, BulkResult, BulkUpdate, CannedReply, CannedReplyInput, CannedReplyUpdate, CreateLink, Macro, MacroInput,
    MacroUpdate, MergeRequest, MergeResult, SavedView, SavedViewInput, RateTicket, SavedViewUpdate, Ticket, TicketLink, TicketRating, ViewPageQuery, Watcher,
};
use crate::{API_PREFIX, Page};

impl Client {
    pub async fn merge_ticket(&self, id: Uuid, request: &MergeRequest) -> Result<MergeResult> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/tickets/{id}/merge"), request).await
    }

    pub async fn create_link(&self, id: Uuid, request: &CreateLink) -> Result<TicketLink> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/tickets/{id}/links"), request).await
    }

    pub async fn list_links(&self, id: Uuid) -> Result<Vec<TicketLink>> {
        self.get(&format!("{API_PREFIX}/tickets/{id}/links")).await
    }

    pub async fn delete_link(&self, id: Uuid, link: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/tickets/{id}/links/{link}")).await
    }

    /// Who watches a ticket (customers: only themselves).
    pub async fn list_watchers(&self, id: Uuid) -> Result<Vec<Watcher>> {
        self.get(&format!("{API_PREFIX}/tickets/{id}/watchers")).await
    }

    /// Makes `user` (yourself, or, staff, someone who can see the ticket) watch a ticket.
    pub async fn watch_ticket(&self, id: Uuid, user: Uuid) -> Result<()> {
        self.send_empty(self.request(Method::PUT, &format!("{API_PREFIX}/tickets/{id}/watchers/{user}"))?).await
    }

    /// Stops `user` (yourself, or, staff, anyone) watching a ticket.
    pub async fn unwatch_ticket(&self, id: Uuid, user: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/tickets/{id}/watchers/{user}")).await
    }

    /// Rates a resolved or closed ticket (its requester only); rating again replaces it.
    pub async fn rate_ticket(&self, id: Uuid, request: &RateTicket) -> Result<TicketRating> {
        self.with_body(Method::PUT, &format!("{API_PREFIX}/tickets/{id}/rating"), request).await
    }

    /// A ticket's satisfaction rating (404 `not_found` while it has none).
    pub async fn ticket_rating(&self, id: Uuid) -> Result<TicketRating> {
        self.get(&format!("{API_PREFIX}/tickets/{id}/rating")).await
    }

    pub async fn bulk_update(&self, request: &BulkUpdate) -> Result<BulkResult> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/tickets/bulk"), request).await
    }

    pub async fn list_canned_replies(&self) -> Result<Vec<CannedReply>> {
        self.get(&format!("{API_PREFIX}/canned-replies")).await
    }

    pub async fn create_canned_reply(&self, input: &CannedReplyInput) -> Result<CannedReply> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/canned-replies"), input).await
    }

    pub async fn get_canned_reply(&self, id: Uuid) -> Result<CannedReply> {
        self.get(&format!("{API_PREFIX}/canned-replies/{id}")).await
    }

    pub async fn update_canned_reply(&self, id: Uuid, update: &CannedReplyUpdate) -> Result<CannedReply> {
        self.with_body(Method::PATCH, &format!("{API_PREFIX}/canned-replies/{id}"), update).await
    }

    pub async fn delete_canned_reply(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/canned-replies/{id}")).await
    }

    pub async fn list_macros(&self) -> Result<Vec<Macro>> {
        self.get(&format!("{API_PREFIX}/macros")).await
    }

    pub async fn create_macro(&self, input: &MacroInput) -> Result<Macro> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/macros"), input).await
    }

    pub async fn get_macro(&self, id: Uuid) -> Result<Macro> {
        self.get(&format!("{API_PREFIX}/macros/{id}")).await
    }

    pub async fn update_macro(&self, id: Uuid, update: &MacroUpdate) -> Result<Macro> {
        self.with_body(Method::PATCH, &format!("{API_PREFIX}/macros/{id}"), update).await
    }

    pub async fn delete_macro(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/macros/{id}")).await
    }

    pub async fn apply_macro(&self, ticket: Uuid, macro_id: Uuid, request: &ApplyMacro) -> Result<Ticket> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/tickets/{ticket}/macros/{macro_id}/apply"), request).await
    }

    pub async fn list_views(&self) -> Result<Vec<SavedView>> {
        self.get(&format!("{API_PREFIX}/views")).await
    }

    pub async fn create_view(&self, input: &SavedViewInput) -> Result<SavedView> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/views"), input).await
    }

    pub async fn get_view(&self, id: Uuid) -> Result<SavedView> {
        self.get(&format!("{API_PREFIX}/views/{id}")).await
    }

    pub async fn update_view(&self, id: Uuid, update: &SavedViewUpdate) -> Result<SavedView> {
        self.with_body(Method::PATCH, &format!("{API_PREFIX}/views/{id}"), update).await
    }

    pub async fn delete_view(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/views/{id}")).await
    }

    pub async fn view_tickets(&self, id: Uuid, page: &ViewPageQuery) -> Result<Page<Ticket>> {
        self.get_query(&format!("{API_PREFIX}/views/{id}/tickets"), page).await
    }
}
