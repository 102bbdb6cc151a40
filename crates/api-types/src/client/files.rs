//! Attachments: upload, list, download, delete, and the admin's settings.

use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use uuid::Uuid;

use super::{Client, Result};
use crate::API_PREFIX;
use crate::files::{Attachment, AttachmentSettings, UpdateAttachmentSettings};

/// A downloaded attachment (or part of one) with the answer's headers.
#[derive(Debug)]
pub struct Download {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub content: Vec<u8>,
}

impl Client {
    /// Attaches `content` to a ticket as `file_name` (sent as-is: the server sanitises it),
    /// declaring `content_type` if given.
    pub async fn upload_attachment(
        &self,
        ticket: Uuid,
        file_name: &str,
        content_type: Option<&str>,
        content: &[u8],
    ) -> Result<Attachment> {
        let (boundary, body) = multipart_body(file_name, content_type, content);
        let builder = self
            .request(Method::POST, &format!("{API_PREFIX}/tickets/{ticket}/attachments"))?
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        self.send(builder).await
    }

    /// [`Client::upload_attachment`] for big files: the body goes out in chunks and
    /// `progress(sent, total)` is called as each is handed to the connection (bytes of the whole
    /// request body, so the last call has `sent == total`).
    pub async fn upload_attachment_with_progress(
        &self,
        ticket: Uuid,
        file_name: &str,
        content_type: Option<&str>,
        content: &[u8],
        progress: impl Fn(u64, u64) + Send + Sync + 'static,
    ) -> Result<Attachment> {
        /// Small enough for a smooth progress bar, large enough to cost nothing per chunk.
        const CHUNK: usize = 64 * 1024;
        let (boundary, body) = multipart_body(file_name, content_type, content);
        let total = body.len() as u64;
        let chunks: Vec<Vec<u8>> = body.chunks(CHUNK).map(<[u8]>::to_vec).collect();
        let mut sent = 0u64;
        let stream = futures::stream::iter(chunks.into_iter().map(move |chunk| {
            sent += chunk.len() as u64;
            progress(sent, total);
            Ok::<_, std::io::Error>(chunk)
        }));
        let builder = self
            .request(Method::POST, &format!("{API_PREFIX}/tickets/{ticket}/attachments"))?
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .header(reqwest::header::CONTENT_LENGTH, total)
            .body(reqwest::Body::wrap_stream(stream));
        self.send(builder).await
    }

    pub async fn list_attachments(&self, ticket: Uuid) -> Result<Vec<Attachment>> {
        self.get(&format!("{API_PREFIX}/tickets/{ticket}/attachments")).await
    }

    /// Downloads an attachment, or the byte range `range` (an HTTP `Range` value such as
    /// `bytes=0-99`).
    pub async fn download_attachment(&self, id: Uuid, range: Option<&str>) -> Result<Download> {
        let mut builder = self.request(Method::GET, &format!("{API_PREFIX}/attachments/{id}"))?;
        if let Some(range) = range {
            builder = builder.header(reqwest::header::RANGE, range);
        }
        self.fetch_bytes(builder).await
    }

    /// The PNG thumbnail of an image attachment.
    pub async fn attachment_thumbnail(&self, id: Uuid) -> Result<Download> {
        self.fetch_bytes(self.request(Method::GET, &format!("{API_PREFIX}/attachments/{id}/thumbnail"))?).await
    }

    pub async fn delete_attachment(&self, id: Uuid) -> Result<()> {
        self.delete(&format!("{API_PREFIX}/attachments/{id}")).await
    }

    pub async fn restore_attachment(&self, id: Uuid) -> Result<Attachment> {
        self.send(self.request(Method::POST, &format!("{API_PREFIX}/attachments/{id}/restore"))?).await
    }

    pub async fn attachment_settings(&self) -> Result<AttachmentSettings> {
        self.get(&format!("{API_PREFIX}/settings/attachments")).await
    }

    pub async fn update_attachment_settings(&self, update: &UpdateAttachmentSettings) -> Result<AttachmentSettings> {
        self.with_body(Method::PUT, &format!("{API_PREFIX}/settings/attachments"), update).await
    }

    async fn fetch_bytes(&self, builder: reqwest::RequestBuilder) -> Result<Download> {
        let response = builder.send().await?;
        let status = response.status();
        // 416 has no error body of ours: it is an answer about the range, returned as is.
        if !status.is_success() && status != StatusCode::RANGE_NOT_SATISFIABLE {
            return Err(Self::error_from(status, response).await);
        }
        let headers = response.headers().clone();
        let content = response.bytes().await?.to_vec();
        Ok(Download { status, headers, content })
    }
}

/// A multipart/form-data body with one `file` field; its boundary and bytes.
fn multipart_body(file_name: &str, content_type: Option<&str>, content: &[u8]) -> (String, Vec<u8>) {
    let boundary = format!("hdms-{}", Uuid::now_v7().simple());
    // Quotes and line breaks cannot appear inside the quoted filename parameter.
    let quoted_name: String = file_name
        .chars()
        .map(|c| match c {
            '"' => "%22".to_owned(),
            '\r' => "%0D".to_owned(),
            '\n' => "%0A".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let mut body = Vec::with_capacity(content.len() + 512);
    body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    body.extend_from_slice(format!("Content-Disposition: form-data; name=\"file\"; filename=\"{quoted_name}\"\r\n").as_bytes());
    if let Some(content_type) = content_type {
        body.extend_from_slice(format!("Content-Type: {content_type}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, body)
}
