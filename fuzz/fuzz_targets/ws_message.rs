//! Websocket client messages: any text frames, sent by an admin, an agent or a customer over a
//! real socket to the real server.
//!
//! Input: a line naming who sends (`admin`, `gent`, `customer`), then one text frame per line
//! (at most 8); `$CUSTOMER_TICKET` and `$STAFF_TICKET` in a frame stand for the id of a ticket
//! the customer raised and of one the customer may not see.
//!
//! Properties: a frame that parses as a `ClientMessage` survives a round trip through JSON;
//! the server answers every frame (a `ping` after each one is always answered by `pong`, so
//! the connection is alive and in order), every answer is a `ServerMessage`, and none is an
//! `internal` error.

#![no_main]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hdms_api_types::Role;
use hdms_api_types::ws::{ClientMessage, ServerMessage};
use hdms_fuzz::{Desk, desk, first_line, role_of};
use libfuzzer_sys::fuzz_target;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(desk: &Desk, role: Role) -> Socket {
    let url = format!("{}/ws", desk.url.replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.expect("websocket connects");
    let auth = ClientMessage::Auth { token: desk.person(role).token.clone() };
    socket.send(Message::text(serde_json::to_string(&auth).expect("json"))).await.expect("auth sent");
    match next(&mut socket, "auth").await {
        ServerMessage::Ready { .. } => socket,
        other => panic!("auth answered {other:?}"),
    }
}

/// The next server message; panics on anything but a JSON `ServerMessage` text frame, and on
/// an `internal` error.
async fn next(socket: &mut Socket, after: &str) -> ServerMessage {
    loop {
        let frame = match tokio::time::timeout(Duration::from_secs(10), socket.next()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(other) => panic!("the connection ended after {after}: {other:?}"),
            Err(_) => panic!("no answer within 10 s after {after}"),
        };
        let text = match frame {
            Message::Text(text) => text,
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("after {after} the server sent {other:?}"),
        };
        let message: ServerMessage = serde_json::from_str(&text).unwrap_or_else(|err| panic!("not a ServerMessage ({err}): {text}"));
        if let ServerMessage::Error { code, .. } = &message {
            assert_ne!(code, "internal", "after {after}: {text}");
        }
        return message;
    }
}

fuzz_target!(|data: &[u8]| {
    let desk = desk();
    let (who, frames) = first_line(data);
    let role = role_of(who);
    // A connection per input, so a crash replays from its input alone.
    desk.runtime.block_on(async {
        let socket = &mut connect(desk, role).await;
        for frame in frames.split(|&b| b == b'\n').take(8) {
            let text = String::from_utf8_lossy(frame)
                .replace("$CUSTOMER_TICKET", &desk.customer_ticket.to_string())
                .replace("$STAFF_TICKET", &desk.staff_ticket.to_string());
            if let Ok(parsed) = serde_json::from_str::<ClientMessage>(&text) {
                let again: ClientMessage = serde_json::from_str(&serde_json::to_string(&parsed).expect("json")).expect("round trip");
                assert_eq!(parsed, again);
            }
            socket.send(Message::text(text.clone())).await.expect("frame sent");
            socket.send(Message::text(r#"{"type":"ping"}"#)).await.expect("ping sent");
            let after = format!("{text:?}");
            while !matches!(next(socket, &after).await, ServerMessage::Pong) {}
        }
        let _ = socket.close(None).await;
    });
});
