//! Automation rules (admins).

use reqwest::Method;
use uuid::Uuid;

use super::{Client, Result};
use crate::API_PREFIX;
use crate::rules::{Rule, RuleInput, RuleTestRequest, RuleTestResult, RuleUpdate};

impl Client {
    /// Every rule, in the order they run.
    pub async fn list_rules(&self) -> Result<Vec<Rule>> {
        self.get(&format!("{API_PREFIX}/rules")).await
    }

    pub async fn create_rule(&self, input: &RuleInput) -> Result<Rule> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/rules"), input).await
    }

    pub async fn get_rule(&self, id: Uuid) -> Result<Rule> {
        self.get(&format!("{API_PREFIX}/rules/{id}")).await
    }

    pub async fn update_rule(&self, id: Uuid, update: &RuleUpdate) -> Result<Rule> {
        self.with_body(Method::PATCH, &format!("{API_PREFIX}/rules/{id}"), update).await
    }

    pub async fn delete_rule(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/rules/{id}")).await
    }

    pub async fn enable_rule(&self, id: Uuid) -> Result<Rule> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/rules/{id}/enable"))?).await
    }

    pub async fn disable_rule(&self, id: Uuid) -> Result<Rule> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/rules/{id}/disable"))?).await
    }

    /// A dry run: what the rule would do now, to one ticket or to those it would act on.
    pub async fn test_rule(&self, id: Uuid, request: &RuleTestRequest) -> Result<RuleTestResult> {
        self.with_body(Method::POST, &format!("{API_PREFIX}/rules/{id}/test"), request).await
    }
}
