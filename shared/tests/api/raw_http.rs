//! The local server on a free port, spoken to over raw TCP: a well-behaved HTTP client would
//! refuse to send some of the requests these tests need, or would give up when the server
//! answers early.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use shared::App;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Http {
    addr: SocketAddr,
}

pub struct RawReply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl RawReply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not JSON ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

impl Http {
    pub async fn start(app: Arc<App>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(shared::local::serve(app, listener));
        Self { addr }
    }

    pub async fn exchange(&self, request_line: &str, headers: &[&str], body: &[u8]) -> RawReply {
        self.exchange_repeated(request_line, headers, Bytes::copy_from_slice(body), 1)
            .await
    }

    /// Sends the request with `chunk` repeated `times` as its body, streamed so that this
    /// process never holds the whole of it, and reads the answer meanwhile: the server may
    /// answer and hang up before the body is sent, as it should for one too large.
    pub async fn exchange_repeated(
        &self,
        request_line: &str,
        headers: &[&str],
        chunk: Bytes,
        times: usize,
    ) -> RawReply {
        let head = format!(
            "{request_line} HTTP/1.1\r\nHost: localhost\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n",
            headers
                .iter()
                .map(|h| format!("{h}\r\n"))
                .collect::<String>(),
            chunk.len() * times,
        );
        let (mut reader, mut writer) = TcpStream::connect(self.addr).await.unwrap().into_split();
        let sender = tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await?;
            for _ in 0..times {
                writer.write_all(&chunk).await?;
            }
            // Keep the connection open for writing until the answer is read.
            Ok::<_, std::io::Error>(writer)
        });
        let mut answer = Vec::new();
        // A reset after the answer (the server hanging up on an unread body) is expected.
        let read = reader.read_to_end(&mut answer);
        let _ = tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("an answer within 30 s");
        sender.abort();
        let end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&answer)));
        let status_line = String::from_utf8_lossy(&answer[..end]);
        RawReply {
            status: status_line.split(' ').nth(1).unwrap().parse().unwrap(),
            body: answer[end + 4..].to_vec(),
        }
    }
}
