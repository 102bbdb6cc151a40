//! The default provider: writes each message to the server log instead of sending it. For
//! development and for installations without an SMS gateway; deliveries are recorded as for
//! any provider.

use futures::future::BoxFuture;

use crate::comms::sms::gateway::{Delivery, Gateway, Message, SendError};

pub struct LogGateway;

impl Gateway for LogGateway {
    fn name(&self) -> &'static str {
        "log"
    }

    fn send<'a>(&'a self, message: Message<'a>) -> BoxFuture<'a, Result<Delivery, SendError>> {
        Box::pin(async move {
            // One-time codes and invitations are credentials: the log says one was sent, never
            // which (read it from the outbox while it is valid, or configure a gateway).
            let text = if message.sensitive { "[sensitive text not logged]" } else { message.text };
            tracing::info!(sms_id = %message.id, to = message.to, text,
                "SMS (log provider: not sent; set HDMS_SMS_PROVIDER=http to send through a gateway)");
            Ok(Delivery::default())
        })
    }
}
