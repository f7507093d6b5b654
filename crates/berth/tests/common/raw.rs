//! Requests written byte for byte on a TCP connection, for bodies no HTTP
//! client library will send (such as a malformed chunked encoding).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ADMIN, ADMIN_PASSWORD, basic_auth};

/// An answer read off the connection.
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The header block, as text.
    pub head: String,
    /// Everything after the header block, as text.
    pub body: String,
}

/// Send `method path` to `addr` with the superuser's credentials,
/// `Transfer-Encoding: chunked` and `encoded` as the body exactly as given,
/// then read the answer.
pub async fn send_chunked(
    addr: &str,
    method: &str,
    path: &str,
    content_type: &str,
    encoded: &[u8],
) -> RawResponse {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {}\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        basic_auth(ADMIN, ADMIN_PASSWORD)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(encoded).await.unwrap();
    // The server closes the connection after answering; a reset after the
    // answer arrived (unread bytes on its side) ends the read too.
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    RawResponse {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
    }
}
