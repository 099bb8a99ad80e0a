//! The simulator's template operations, on [`SimState`]: each takes the template store's
//! lock for one change (Meta's rules are in [`crate::templates`]), then, with the lock
//! released, starts the review the change calls for and sends the webhooks it returned
//! through the common delivery ([`crate::webhooks`]).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use openbsp_wire::MetaError;

use crate::state::SimState;
use crate::templates::{
    Notice, QualityScore, SendTemplate, Template, TemplateControlError, TemplateReview,
    TemplateSeed, TemplateStatusChange, webhook_targets,
};
use crate::webhooks;

/// How Meta ends the pacing of a template (reference §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PacingOutcome {
    /// Good early feedback: the held messages are delivered.
    Release,
    /// Bad feedback: the template is paused (`message_template_status_update` PAUSED) and
    /// every held message fails with 132015.
    Pause,
}

impl SimState {
    /// Meta paces template `id` (template pacing): its sends are accepted with
    /// `message_status: "held_for_quality_assessment"` and held, statuses and all, until
    /// [`SimState::end_pacing`].
    pub fn pace_template(&self, id: &str) -> Result<(), TemplateControlError> {
        if self.template(id).is_none() {
            return Err(TemplateControlError::NotFound(format!("no template {id}")));
        }
        self.start_pacing(id);
        Ok(())
    }

    /// Ends the pacing of template `id` with `outcome`; how many held sends it decided.
    pub fn end_pacing(
        self: &Arc<Self>,
        id: &str,
        outcome: PacingOutcome,
    ) -> Result<usize, TemplateControlError> {
        let held = self
            .stop_pacing(id)
            .ok_or_else(|| TemplateControlError::NotFound(format!("template {id} is not paced")))?;
        if outcome == PacingOutcome::Pause {
            self.set_template_status(id, crate::templates::TemplateEvent::Paused.into())?;
        }
        let n = held.len();
        for mut accepted in held {
            if outcome == PacingOutcome::Pause {
                accepted.failure = Some(MetaError::new(
                    openbsp_wire::error::codes::TEMPLATE_PAUSED,
                    Some("Message failed to send because its template was paused for low quality while the message was held.".to_string()),
                ));
                accepted.billing = None;
            }
            crate::statuses::schedule(self, accepted);
        }
        Ok(n)
    }

    /// The WABA's templates, deleted ones included, oldest first.
    pub fn templates(&self, waba_id: &str) -> Vec<Template> {
        self.templates.lock().all_in(waba_id)
    }

    /// One template (deleted ones included).
    pub fn template(&self, id: &str) -> Option<Template> {
        self.templates.lock().get(id)
    }

    /// The templates of `waba_id` not deleted, newest first (the Graph API's order).
    pub(crate) fn live_templates(&self, waba_id: &str) -> Vec<Template> {
        self.templates.lock().live_newest_first(waba_id)
    }

    /// A template not deleted.
    pub(crate) fn live_template(&self, id: &str) -> Option<Template> {
        self.template(id).filter(Template::live)
    }

    /// How reviews end.
    pub fn template_review(&self) -> TemplateReview {
        self.templates.lock().review().clone()
    }

    /// Sets how reviews end (reviews under way keep the delay they started with).
    pub fn set_template_review(&self, review: TemplateReview) -> Result<(), String> {
        self.templates.lock().set_review(review)
    }

    /// Sets how long reviews take, in ms.
    pub fn set_template_review_delay(&self, delay_ms: u64) {
        self.templates.lock().set_review_delay(delay_ms);
    }

    /// `POST /{WABA}/message_templates`: validates `body` as Meta does, stores the template
    /// as `PENDING` and starts its review.
    pub(crate) fn create_template(
        self: &Arc<Self>,
        waba_id: &str,
        body: &Value,
    ) -> Result<Template, MetaError> {
        let now = self.now_ms();
        let t = self.templates.lock().create(waba_id, body, now)?;
        self.schedule_review(&t);
        Ok(t)
    }

    /// `POST /{template_id}`: edits components, category or `message_send_ttl_seconds` by
    /// Meta's rules; a new content goes back to review.
    pub(crate) fn edit_template(self: &Arc<Self>, id: &str, body: &Value) -> Result<(), MetaError> {
        let now = self.now_ms();
        let edited = self.templates.lock().edit(id, body, now)?;
        if let Some(t) = edited {
            self.schedule_review(&t);
        }
        Ok(())
    }

    /// `DELETE /{WABA}/message_templates?name=[&hsm_id=]`: every language of `name`, or the
    /// one template `hsm_id`. Disabled templates cannot be deleted. Returns how many were.
    pub(crate) fn delete_templates(
        &self,
        waba_id: &str,
        name: &str,
        hsm_id: Option<&str>,
    ) -> Result<usize, MetaError> {
        let now = self.now_ms();
        self.templates.lock().delete(waba_id, name, hsm_id, now)
    }

    /// Puts a template straight into a WABA with the seed's status: validated as a create
    /// request, no review, a status webhook only if `notify`.
    pub fn seed_template(
        self: &Arc<Self>,
        seed: TemplateSeed,
    ) -> Result<Template, TemplateControlError> {
        if self.waba_numbers(&seed.waba_id).is_empty() {
            return Err(TemplateControlError::NotFound(format!(
                "no phone number of WABA {} is configured",
                seed.waba_id
            )));
        }
        let now = self.now_ms();
        let (t, notice) = self.templates.lock().seed(seed, now)?;
        self.notify(notice.into_iter().collect());
        Ok(t)
    }

    /// Changes a template's status as Meta would (pause, disable, reinstate, ...) and sends
    /// the `message_template_status_update`.
    pub fn set_template_status(
        self: &Arc<Self>,
        id: &str,
        change: TemplateStatusChange,
    ) -> Result<Template, TemplateControlError> {
        let now = self.now_ms();
        let (t, notice) = self.templates.lock().set_status(id, change, now)?;
        self.notify(vec![notice]);
        Ok(t)
    }

    /// Sets a template's quality score and sends the `message_template_quality_update`.
    pub fn set_template_quality(
        self: &Arc<Self>,
        id: &str,
        score: QualityScore,
    ) -> Result<Template, TemplateControlError> {
        let now = self.now_ms();
        let (t, notice) = self.templates.lock().set_quality(id, score, now)?;
        self.notify(vec![notice]);
        Ok(t)
    }

    /// The template a send names: `None` if the WABA has no such template in that language.
    pub(crate) fn template_for_send(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> Option<SendTemplate> {
        self.templates.lock().for_send(waba_id, name, language)
    }

    /// Ends `t`'s review after the review delay (in the background).
    fn schedule_review(self: &Arc<Self>, t: &Template) {
        let delay = self.templates.lock().review().delay_ms;
        let (id, seq) = (t.numeric_id(), t.review_seq);
        let st = self.clone();
        self.tasks.spawn(async move {
            if delay > 0 && !st.tasks.sleep(Duration::from_millis(delay)).await {
                return;
            }
            st.finish_review(id, seq);
        });
    }

    /// Ends the review `seq` of template `id`, unless something changed it since.
    fn finish_review(self: &Arc<Self>, id: u64, seq: u64) {
        let now = self.now_ms();
        let notices = self.templates.lock().finish_review(id, seq, now);
        self.notify(notices);
    }

    /// Sends WABA-level webhooks to every distinct webhook URL of the WABA's numbers.
    fn notify(self: &Arc<Self>, notices: Vec<Notice>) {
        let time = self.now_ms().div_euclid(1000);
        for notice in notices {
            let (waba_id, kind, body) = notice.into_webhook(time);
            for pnid in webhook_targets(&self.waba_numbers(&waba_id)) {
                webhooks::enqueue(self, &pnid, kind, body.clone());
            }
        }
    }
}
