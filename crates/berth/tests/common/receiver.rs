//! A real HTTP receiver on loopback for notification tests: records every
//! request (headers and raw body), answers as told, can be stopped and
//! started again on the same port.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200.
    Ok,
    /// This status.
    Status(u16),
    /// A redirect to a private address.
    RedirectToPrivate,
    /// Never answers.
    Hang,
    /// 200 with an endless body.
    Endless,
}

/// One request received.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }
}

#[derive(Clone)]
struct State {
    received: Arc<Mutex<Vec<Received>>>,
    answer: Arc<Mutex<Answer>>,
}

/// The receiver.
pub struct Receiver {
    pub port: u16,
    state: State,
    task: Option<tokio::task::JoinHandle<()>>,
}

async fn receive(
    axum::extract::State(state): axum::extract::State<State>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = *state.answer.lock().unwrap();
    state.received.lock().unwrap().push(Received { headers, body });
    match answer {
        Answer::Ok => StatusCode::OK.into_response(),
        Answer::Status(s) => StatusCode::from_u16(s).unwrap().into_response(),
        Answer::RedirectToPrivate => {
            (StatusCode::FOUND, [("location", "http://10.255.255.1/hook")]).into_response()
        }
        Answer::Hang => {
            std::future::pending::<()>().await;
            StatusCode::OK.into_response()
        }
        Answer::Endless => {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            let stream = futures_util::stream::repeat_with(move || Ok::<_, std::io::Error>(chunk.clone()));
            axum::body::Body::from_stream(stream).into_response()
        }
    }
}

impl Receiver {
    /// A receiver on a free loopback port, answering 200.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut r = Receiver {
            port,
            state: State {
                received: Arc::default(),
                answer: Arc::new(Mutex::new(Answer::Ok)),
            },
            task: None,
        };
        r.serve(listener);
        r
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(self.state.clone());
        self.task = Some(tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        }));
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Answer from now on with `answer`.
    pub fn answer(&self, answer: Answer) {
        *self.state.answer.lock().unwrap() = answer;
    }

    /// Stop listening (connections are refused).
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listen again on the same port.
    pub async fn resume(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .unwrap();
        self.serve(listener);
    }

    /// What it received so far.
    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }
}
