//! The websocket side of the client: live chat, presence and notifications (`GET /ws`).

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::Client;
use crate::ws::{ClientMessage, ServerMessage};

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("websocket: {0}")]
    Socket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("unreadable server message: {0}")]
    Protocol(#[from] serde_json::Error),
    #[error("the server refused: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("the connection closed")]
    Closed,
    #[error("no credential: log in first")]
    NoToken,
}

/// One authenticated websocket connection.
pub struct Live {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    user_id: uuid::Uuid,
}

impl Client {
    /// Opens the websocket and authenticates with the client's current token (sent as the
    /// first message, never in the URL).
    pub async fn connect_live(&self) -> Result<Live, LiveError> {
        let token = self.token().ok_or(LiveError::NoToken)?;
        self.connect_live_with(token).await
    }

    /// Opens the websocket and authenticates with this token rather than the client's (a
    /// long-lived connection's owner may hold a fresher one).
    pub async fn connect_live_with(&self, token: String) -> Result<Live, LiveError> {
        let mut url = self.base_url().join("ws").expect("a relative path joins");
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme).expect("ws and wss are valid schemes");
        let (socket, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
        let mut live = Live { socket, user_id: uuid::Uuid::nil() };
        live.send(&ClientMessage::Auth { token }).await?;
        match live.next().await? {
            ServerMessage::Ready { user_id, .. } => {
                live.user_id = user_id;
                Ok(live)
            }
            ServerMessage::Error { code, message } => Err(LiveError::Refused { code, message }),
            _ => Err(LiveError::Closed),
        }
    }
}

impl Live {
    /// Who the connection is authenticated as (from the server's `ready`).
    pub fn user_id(&self) -> uuid::Uuid {
        self.user_id
    }

    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), LiveError> {
        let text = serde_json::to_string(message)?;
        self.socket.send(Message::Text(text.into())).await?;
        Ok(())
    }

    /// The next protocol message (pings are answered by the library).
    pub async fn next(&mut self) -> Result<ServerMessage, LiveError> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(text.as_str())?),
                Some(Ok(Message::Close(_))) | None => return Err(LiveError::Closed),
                Some(Ok(_)) => continue,
                Some(Err(err)) => return Err(err.into()),
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
